# Parse speed of src/net (figures in docs/net.md).
add_executable(net_parse_bench ${CMAKE_CURRENT_LIST_DIR}/net_parse_bench.cc)
target_compile_options(net_parse_bench PRIVATE ${HAPF_WARNINGS})
target_link_libraries(net_parse_bench PRIVATE hapf_net benchmark::benchmark benchmark::benchmark_main)
