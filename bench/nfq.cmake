# Data plane benchmark: the bounded UDP sender that bench/nfq_forward.sh drives.
add_executable(nfq_udpflood ${CMAKE_CURRENT_LIST_DIR}/nfq_udpflood.cc)
target_compile_options(nfq_udpflood PRIVATE ${HAPF_WARNINGS})

# Per-packet user-space costs of the data plane (Google Benchmark).
add_executable(nfq_bench ${CMAKE_CURRENT_LIST_DIR}/nfq_bench.cc)
target_compile_options(nfq_bench PRIVATE ${HAPF_WARNINGS})
target_link_libraries(nfq_bench PRIVATE hapf_dataplane benchmark::benchmark)
