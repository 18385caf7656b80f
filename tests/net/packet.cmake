hapf_test(net_packet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/packet_smoke_test.cc ${CMAKE_CURRENT_LIST_DIR}/build_test.cc
  DEPS hapf_net)
