hapf_test(carp_vectors_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/vectors_test.cc DEPS hapf_carp)
hapf_test(carp_sim_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc DEPS hapf_carp hapf_sim)
hapf_test(carp_engine_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_test.cc DEPS hapf_carp)
