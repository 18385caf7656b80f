hapf_library(hapf_sim SOURCES ${CMAKE_CURRENT_LIST_DIR}/simulator.cc)
