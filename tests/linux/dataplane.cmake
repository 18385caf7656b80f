# Data plane tests: pure units, and namespace tests driving nfq_testfw.
if(NOT HAPF_FUZZ)
  # The firewall with a fixed policy (also used by bench/nfq_forward.sh).
  add_executable(nfq_testfw ${CMAKE_CURRENT_LIST_DIR}/nfq_testfw.cc)
  target_include_directories(nfq_testfw PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(nfq_testfw PRIVATE ${HAPF_WARNINGS})
  target_link_libraries(nfq_testfw PRIVATE hapf_dataplane)

  # tests/netns: the namespace toolkit's C++ side.
  add_library(hapf_netns_toolkit STATIC ${CMAKE_SOURCE_DIR}/tests/netns/netns_topology.cc)
  target_include_directories(hapf_netns_toolkit PUBLIC ${CMAKE_SOURCE_DIR}/tests)
  target_compile_options(hapf_netns_toolkit PRIVATE ${HAPF_WARNINGS})
  target_compile_definitions(hapf_netns_toolkit PRIVATE HAPF_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()

hapf_test(dataplane_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dataplane_unit_test.cc DEPS hapf_dataplane)

hapf_test(dataplane_netns_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dataplane_netns_test.cc
  DEPS hapf_netns_toolkit LABELS netns)
if(TARGET dataplane_netns_test)
  add_dependencies(dataplane_netns_test nfq_testfw)
  target_compile_definitions(dataplane_netns_test PRIVATE NFQ_TESTFW="$<TARGET_FILE:nfq_testfw>")
endif()

hapf_fuzzer(dataplane_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/dataplane_fuzz.cc DEPS hapf_dataplane RUNS 100000
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/dataplane_fuzz_seeds)
