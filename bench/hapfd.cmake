# hapfd benchmark: TCP connection setups per second (bench/hapfd_connrate.sh).
add_executable(tcp_connrate ${CMAKE_CURRENT_LIST_DIR}/tcp_connrate.cc)
target_compile_options(tcp_connrate PRIVATE ${HAPF_WARNINGS})

# The filter with 1 and 2 workers, with and without pfsync (Google Benchmark).
add_executable(filter_bench ${CMAKE_CURRENT_LIST_DIR}/filter_bench.cc)
target_compile_options(filter_bench PRIVATE ${HAPF_WARNINGS})
target_link_libraries(filter_bench PRIVATE hapf_daemon hapf_pfsync_bridge benchmark::benchmark)
