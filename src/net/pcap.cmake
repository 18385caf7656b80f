# pcap file I/O: a library of its own so only its users link libpcap.
hapf_library(hapf_net_pcap SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap.cc DEPS hapf_net PkgConfig::PCAP)
