# CARP on Linux: rtnetlink (macvlan, addresses, link watch), raw sockets and the node runtime.
hapf_library(hapf_linux_carp SOURCES ${CMAKE_CURRENT_LIST_DIR}/link_rtnl.cc ${CMAKE_CURRENT_LIST_DIR}/rawsock_carp.cc
  ${CMAKE_CURRENT_LIST_DIR}/carp_node.cc DEPS hapf_carp PkgConfig::MNL)
