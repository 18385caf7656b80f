# Filter engine benchmarks (issue 4): bench/pf_engine_bench --benchmark_min_time=0.5s
add_executable(pf_engine_bench ${CMAKE_CURRENT_LIST_DIR}/pf_engine_bench.cc)
target_compile_options(pf_engine_bench PRIVATE ${HAPF_WARNINGS})
target_link_libraries(pf_engine_bench PRIVATE hapf_pf_engine benchmark::benchmark)
