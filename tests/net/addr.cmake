hapf_test(net_addr_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/addr_test.cc ${CMAKE_CURRENT_LIST_DIR}/checksum_test.cc DEPS hapf_net)
hapf_fuzzer(fuzz_addr SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_addr.cc DEPS hapf_net RUNS 100000)
