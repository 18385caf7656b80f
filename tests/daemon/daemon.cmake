# hapfd: namespace tests (real traffic through the daemon) and unit tests.
hapf_test(daemon_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_unit_test.cc DEPS hapf_daemon)
if(TARGET daemon_unit_test)
  add_dependencies(daemon_unit_test hapfd)
  target_compile_definitions(daemon_unit_test PRIVATE HAPFD="$<TARGET_FILE:hapfd>")
endif()
hapf_test(daemon_netns_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_netns_test.cc
  DEPS hapf_netns_toolkit LABELS netns TIMEOUT 120)
if(TARGET daemon_netns_test)
  add_dependencies(daemon_netns_test hapfd hapfctl pfsync_node_prog)
  target_compile_definitions(daemon_netns_test PRIVATE HAPFD="$<TARGET_FILE:hapfd>" HAPFCTL="$<TARGET_FILE:hapfctl>"
    PFSYNC_NODE_PROG="$<TARGET_FILE:pfsync_node_prog>")
endif()
