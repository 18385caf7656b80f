# The Linux data plane: nftables table, NFQUEUE workers, interface names, replies.
find_package(Threads REQUIRED)
hapf_library(hapf_dataplane SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/nft_ruleset.cc
  ${CMAKE_CURRENT_LIST_DIR}/nfq_packet.cc
  ${CMAKE_CURRENT_LIST_DIR}/nfq_dataplane.cc
  ${CMAKE_CURRENT_LIST_DIR}/nfq_reply_sender.cc
  ${CMAKE_CURRENT_LIST_DIR}/iface_table.cc
  DEPS hapf_net PkgConfig::MNL PkgConfig::NFQ Threads::Threads)
