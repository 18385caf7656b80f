# Packet views, whole-packet parse and NAT rewrites (packet.h), and builders.
target_sources(hapf_net PRIVATE ${CMAKE_CURRENT_LIST_DIR}/packet.cc)
hapf_per_packet_sources(${CMAKE_CURRENT_LIST_DIR}/packet.cc)
target_sources(hapf_net PRIVATE ${CMAKE_CURRENT_LIST_DIR}/build.cc)
