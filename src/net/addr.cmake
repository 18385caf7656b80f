hapf_library(hapf_net SOURCES ${CMAKE_CURRENT_LIST_DIR}/addr.cc ${CMAKE_CURRENT_LIST_DIR}/checksum.cc)
