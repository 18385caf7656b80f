set(HAPF_PF_ENGINE_TEST_UTIL ${CMAKE_CURRENT_LIST_DIR}/engine_test_util.cc)
hapf_test(pf_engine_test SOURCES
  ${HAPF_PF_ENGINE_TEST_UTIL}
  ${CMAKE_CURRENT_LIST_DIR}/engine_table_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_tcp_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_ruleset_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_nat_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_state_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_pflog_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_compile_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_index_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_reload_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_shared_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine_synproxy_test.cc
  DEPS hapf_pf_engine hapf_pf_pflog_file hapf_pf_compile hapf_pf_lang)
hapf_fuzzer(fuzz_engine SOURCES ${HAPF_PF_ENGINE_TEST_UTIL} ${CMAKE_CURRENT_LIST_DIR}/fuzz_engine.cc
  DEPS hapf_pf_engine RUNS 30000 SEEDS ${CMAKE_CURRENT_LIST_DIR}/fuzz_engine_seeds)
