# The pfsync <-> filter engine bridge (issue 6), with the engine tests' packet builders.
hapf_test(pfsync_bridge_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/bridge_test.cc
  ${CMAKE_SOURCE_DIR}/tests/pf/engine_test_util.cc
  DEPS hapf_pfsync_bridge)
