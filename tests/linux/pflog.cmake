# The pflog file writer: rotation and appends, read back by tcpdump.
hapf_test(pflog_writer_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pflog_writer_test.cc DEPS hapf_linux_pflog)
if(TARGET pflog_writer_test)
  target_compile_definitions(pflog_writer_test PRIVATE HAPF_BINARY_DIR="${CMAKE_BINARY_DIR}")
endif()
