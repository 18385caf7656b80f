# hapfd: namespace tests (real traffic through the daemon) and unit tests.
hapf_test(daemon_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_unit_test.cc DEPS hapf_daemon hapf_pfsync_bridge)
if(TARGET daemon_unit_test)
  add_dependencies(daemon_unit_test hapfd)
  target_compile_definitions(daemon_unit_test PRIVATE HAPFD="$<TARGET_FILE:hapfd>")
endif()
hapf_test(daemon_netns_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_netns_test.cc
  DEPS hapf_netns_toolkit LABELS netns TIMEOUT 120)
if(TARGET daemon_netns_test)
  # The bounded UDP flood that saturates the data queue (bench/ is optional, so built here too).
  add_executable(netns_udpflood ${CMAKE_SOURCE_DIR}/bench/nfq_udpflood.cc)
  target_compile_options(netns_udpflood PRIVATE ${HAPF_WARNINGS})
  add_dependencies(daemon_netns_test hapfd hapfctl pfsync_node_prog netns_udpflood)
  target_compile_definitions(daemon_netns_test PRIVATE HAPFD="$<TARGET_FILE:hapfd>" HAPFCTL="$<TARGET_FILE:hapfctl>"
    PFSYNC_NODE_PROG="$<TARGET_FILE:pfsync_node_prog>" UDPFLOOD="$<TARGET_FILE:netns_udpflood>")
endif()
# Configuration files and control requests (fuzz configuration only).
hapf_fuzzer(fuzz_daemon_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_daemon_config.cc DEPS hapf_daemon RUNS 50000
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/fuzz_daemon_config_seeds)
