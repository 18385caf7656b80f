# The pflog file writer: pcap files of link type DLT_PFLOG, rotated by size.
hapf_library(hapf_linux_pflog SOURCES ${CMAKE_CURRENT_LIST_DIR}/pflog_writer.cc DEPS hapf_pf_engine)
