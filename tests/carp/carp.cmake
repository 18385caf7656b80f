hapf_test(carp_vectors_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/vectors_test.cc DEPS hapf_carp)
hapf_test(carp_sim_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc DEPS hapf_carp hapf_sim)
hapf_test(carp_engine_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_test.cc DEPS hapf_carp)
hapf_test(carp_oracle_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/oracle_test.cc DEPS hapf_carp)
hapf_fuzzer(fuzz_carp_decode SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_carp_decode.cc DEPS hapf_carp
  RUNS 100000 SEEDS ${CMAKE_CURRENT_LIST_DIR}/seeds)
