# Peer benchmark (issue 11): traffic programs driven by bench/peers/run.sh.
add_executable(peers_tool ${CMAKE_CURRENT_LIST_DIR}/peers/peers_tool.cc)
target_compile_options(peers_tool PRIVATE ${HAPF_WARNINGS})
target_link_libraries(peers_tool PRIVATE PkgConfig::MNL)  # ct-insert: conntrack entries over ctnetlink

# The smoke test (tests/bench/peers_smoke.sh): the harness at --size tiny produces every row with numbers.
# Registered here because tests/ only descends into module folders; bench/ is built after src/, so hapfd exists.
if(TARGET hapfd AND TARGET hapfctl AND TARGET nfq_udpflood)
  add_test(NAME peers_bench_smoke_test
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bench/peers_smoke.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(peers_bench_smoke_test PROPERTIES LABELS netns TIMEOUT 240 RUN_SERIAL TRUE)
endif()
