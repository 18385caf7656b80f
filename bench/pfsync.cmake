# pfsync codec and bulk-transfer benchmarks (Google Benchmark).
add_executable(bench_pfsync ${CMAKE_CURRENT_LIST_DIR}/pfsync_codec.cc)
target_include_directories(bench_pfsync PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_options(bench_pfsync PRIVATE ${HAPF_WARNINGS})
target_link_libraries(bench_pfsync PRIVATE hapf_pfsync hapf_pfsync_bridge benchmark::benchmark benchmark::benchmark_main)
