hapf_test(net_packet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/packet_smoke_test.cc ${CMAKE_CURRENT_LIST_DIR}/build_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/packet_fastpath_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/mac_test.cc
  DEPS hapf_net)
# The parser against scapy (/usr/bin/python3): gen_packets.py runs at build time
# (below) and again at test time to read back what builders and rewrites wrote.
hapf_test(net_packet_scapy_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/packet_scapy_test.cc ${CMAKE_CURRENT_LIST_DIR}/packet_oracle.cc
  DEPS hapf_net hapf_net_pcap nlohmann_json::nlohmann_json)
if(TARGET net_packet_scapy_test)
  # scapy writes the oracle's packets and their expected fields once per build
  # (a missing scapy fails the build: an oracle is never skipped).
  set(net_oracle_dir ${CMAKE_BINARY_DIR}/tests/net/scapy-oracle)
  add_custom_command(
    OUTPUT ${net_oracle_dir}/expected.json ${net_oracle_dir}/eth.pcap ${net_oracle_dir}/raw.pcap
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/gen_packets.py ${net_oracle_dir}
    DEPENDS ${CMAKE_CURRENT_LIST_DIR}/gen_packets.py
    COMMENT "scapy: writing the packet oracle")
  add_custom_target(net_scapy_oracle DEPENDS ${net_oracle_dir}/expected.json)
  add_dependencies(net_packet_scapy_test net_scapy_oracle)
endif()
hapf_test(net_pcap_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap_test.cc DEPS hapf_net_pcap)
# Checksums against the kernel's: traffic through a veth pair in fresh namespaces.
hapf_test(net_veth_checksum_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/veth_checksum_test.cc ${CMAKE_CURRENT_LIST_DIR}/packet_oracle.cc
  DEPS hapf_net hapf_net_pcap nlohmann_json::nlohmann_json LABELS netns)
# Seeds: the small packets of gen_packets.py, one file each.
hapf_fuzzer(fuzz_packet SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_packet.cc DEPS hapf_net RUNS 200000
  SEEDS ${CMAKE_CURRENT_LIST_DIR}/fuzz_packet_seeds)
