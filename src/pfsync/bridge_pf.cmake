# The bridge from the pfsync engine to the real filter engine (issue 6).
hapf_library(hapf_pfsync_bridge SOURCES ${CMAKE_CURRENT_LIST_DIR}/bridge_state.cc
  DEPS hapf_pfsync hapf_pf_engine)
