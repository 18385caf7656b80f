# pfsync on Linux (issue 6): a small firewall program (filter engine + PfsyncNode)
# and the namespace scenarios that run two of them over a veth sync cable.
if(NOT HAPF_FUZZ)
  add_executable(pfsync_node_prog ${CMAKE_CURRENT_LIST_DIR}/pfsync_node_prog.cc
    ${CMAKE_SOURCE_DIR}/tests/pf/engine_test_util.cc)
  target_include_directories(pfsync_node_prog PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_options(pfsync_node_prog PRIVATE ${HAPF_WARNINGS})
  target_link_libraries(pfsync_node_prog PRIVATE hapf_linux_pfsync)
endif()
hapf_test(pfsync_netns_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pfsync_netns_test.cc LABELS netns TIMEOUT 90)
if(TARGET pfsync_netns_test)
  add_dependencies(pfsync_netns_test pfsync_node_prog pfsync_oracle)
  # The oracle is built by tests/pfsync (pfsync.cmake) into this path.
  target_compile_definitions(pfsync_netns_test PRIVATE
    PFSYNC_ORACLE="${CMAKE_BINARY_DIR}/pfsync-oracle/pfsync-oracle")
endif()
