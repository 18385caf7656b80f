# Cluster configuration sync: bundle, wire format, protocol state machine (pure).
hapf_library(hapf_sync SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/bundle.cc
  ${CMAKE_CURRENT_LIST_DIR}/wire.cc
  ${CMAKE_CURRENT_LIST_DIR}/node.cc
  DEPS OpenSSL::Crypto)
