# pfsync on Linux (issue 6): the protocol-240 socket and the node runtime that
# runs the sync engine over the real filter engine.
hapf_library(hapf_linux_pfsync SOURCES ${CMAKE_CURRENT_LIST_DIR}/pfsync_socket.cc
  ${CMAKE_CURRENT_LIST_DIR}/pfsync_node.cc DEPS hapf_pfsync_bridge)
# `hapfctl pfsync dump` (pcap file or live interface), kept apart so the daemon
# does not link libpcap.
hapf_library(hapf_linux_pfsync_dump SOURCES ${CMAKE_CURRENT_LIST_DIR}/pfsync_dump.cc DEPS hapf_pfsync_pcap)
