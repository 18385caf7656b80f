hapf_test(sync_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sync_unit_test.cc
  DEPS hapf_sync hapf_pf_lang hapf_carp)
hapf_fuzzer(fuzz_sync_frame SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sync_frame.cc DEPS hapf_sync RUNS 100000)
