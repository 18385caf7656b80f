# hapfd benchmark: TCP connection setups per second (bench/hapfd_connrate.sh).
add_executable(tcp_connrate ${CMAKE_CURRENT_LIST_DIR}/tcp_connrate.cc)
target_compile_options(tcp_connrate PRIVATE ${HAPF_WARNINGS})
