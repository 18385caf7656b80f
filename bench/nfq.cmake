# Data plane benchmark: the bounded UDP sender that bench/nfq_forward.sh drives.
add_executable(nfq_udpflood ${CMAKE_CURRENT_LIST_DIR}/nfq_udpflood.cc)
target_compile_options(nfq_udpflood PRIVATE ${HAPF_WARNINGS})
