hapf_test(sync_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sync_unit_test.cc
  DEPS hapf_sync hapf_pf_lang hapf_carp)
hapf_fuzzer(fuzz_sync_frame SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_sync_frame.cc DEPS hapf_sync RUNS 100000)
hapf_test(sync_netns_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sync_netns_test.cc LABELS netns TIMEOUT 90)
if(TARGET sync_netns_test)
  add_dependencies(sync_netns_test hapfd hapfctl)
  target_compile_definitions(sync_netns_test PRIVATE HAPFD="$<TARGET_FILE:hapfd>" HAPFCTL="$<TARGET_FILE:hapfctl>")
endif()
