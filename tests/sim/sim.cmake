hapf_test(sim_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/simulator_test.cc DEPS hapf_sim)
