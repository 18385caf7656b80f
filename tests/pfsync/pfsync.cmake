# The shared folder sits next to the repository in the lead's checkout
# (/work/main/../shared); from a worktree one level deeper it is two up.
set(PFSYNC_SHARED_DIR "${HAPF_SHARED_DIR}")
if(NOT EXISTS "${PFSYNC_SHARED_DIR}/vectors" AND EXISTS "${CMAKE_SOURCE_DIR}/../../shared/vectors")
  get_filename_component(PFSYNC_SHARED_DIR "${CMAKE_SOURCE_DIR}/../../shared" ABSOLUTE)
endif()

if(NOT HAPF_FUZZ)
  # The independent decoder (shared/tools/pfsync-oracle), built out of the
  # read-only tree with plain flags (no sanitizers: it is the yardstick).
  set(PFSYNC_ORACLE ${CMAKE_BINARY_DIR}/pfsync-oracle/pfsync-oracle)
  add_custom_command(OUTPUT ${PFSYNC_ORACLE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/pfsync-oracle
    COMMAND cc -O2 -std=gnu11 -o ${PFSYNC_ORACLE} ${PFSYNC_SHARED_DIR}/tools/pfsync-oracle/pfsync-oracle.c -lpcap
    DEPENDS ${PFSYNC_SHARED_DIR}/tools/pfsync-oracle/pfsync-oracle.c
    COMMENT "Building the pfsync oracle")
  add_custom_target(pfsync_oracle ALL DEPENDS ${PFSYNC_ORACLE})

  add_library(hapf_pfsync_test_support STATIC ${CMAKE_CURRENT_LIST_DIR}/test_support.cc)
  target_include_directories(hapf_pfsync_test_support PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_compile_options(hapf_pfsync_test_support PRIVATE ${HAPF_WARNINGS})
  target_compile_definitions(hapf_pfsync_test_support PRIVATE
    PFSYNC_SHARED_DIR="${PFSYNC_SHARED_DIR}" PFSYNC_ORACLE="${PFSYNC_ORACLE}"
    HAPF_BINARY_DIR="${CMAKE_BINARY_DIR}")
  target_link_libraries(hapf_pfsync_test_support PUBLIC hapf_pfsync_pcap GTest::gtest)
  add_dependencies(hapf_pfsync_test_support pfsync_oracle)
endif()

hapf_test(pfsync_wire_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/wire_test.cc
  DEPS hapf_pfsync hapf_pfsync_test_support)
hapf_test(pfsync_print_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/print_test.cc
  DEPS hapf_pfsync hapf_pfsync_test_support)
hapf_fuzzer(fuzz_pfsync_decode SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_pfsync_decode.cc
  DEPS hapf_pfsync RUNS 200000 SEEDS ${PFSYNC_SHARED_DIR}/vectors)
hapf_test(pfsync_engine_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_test.cc
  DEPS hapf_pfsync hapf_pfsync_test_support)
hapf_test(pfsync_sim_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc
  DEPS hapf_pfsync hapf_sim)
hapf_fuzzer(fuzz_pfsync_merge SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_pfsync_merge.cc
  DEPS hapf_pfsync RUNS 50000)
hapf_test(pfsync_config_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cc DEPS hapf_pfsync)
hapf_test(pfsync_dissector_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dissector_test.cc
  DEPS hapf_pfsync hapf_pfsync_test_support)
