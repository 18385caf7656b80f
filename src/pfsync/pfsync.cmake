# pfsync v6: the pure protocol core (codec, printer, sync engine) and, apart,
# the pcap reader/writer that `hapfctl pfsync dump` and the tests use.
hapf_library(hapf_pfsync SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/wire.cc
  ${CMAKE_CURRENT_LIST_DIR}/print.cc
  ${CMAKE_CURRENT_LIST_DIR}/state_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/auth.cc
  ${CMAKE_CURRENT_LIST_DIR}/engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/config.cc
  DEPS hapf_net fmt::fmt absl::flat_hash_map absl::btree absl::hash OpenSSL::Crypto)
hapf_library(hapf_pfsync_pcap SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap.cc
  DEPS hapf_pfsync PkgConfig::PCAP)
