#include "net/packet_oracle.h"

#include <cstdio>
#include <sys/wait.h>

#include "run_command.h"

namespace hapf::net::testing {

using nlohmann::json;

std::string GenPacketsScript() { return std::string(HAPF_SOURCE_DIR) + "/tests/net/gen_packets.py"; }

namespace {

json DescribeQuote(const QuotedPacket& q) {
  json d;
  d["family"] = q.family == Family::kV4 ? 4 : 6;
  d["src"] = q.src.ToString();
  d["dst"] = q.dst.ToString();
  d["proto"] = q.proto;
  d["has_ports"] = q.has_ports;
  if (q.has_ports) {
    d["src_port"] = q.src_port;
    d["dst_port"] = q.dst_port;
  }
  if (q.has_tcp_seq) d["tcp_seq"] = q.tcp_seq;
  d["has_icmp"] = q.has_icmp;
  if (q.has_icmp) {
    d["icmp_type"] = q.icmp_type;
    d["icmp_code"] = q.icmp_code;
    d["icmp_id"] = q.icmp_id;
  }
  return d;
}

}  // namespace

json Describe(std::span<const uint8_t> bytes, const ParsedPacket& p) {
  json d = json::object();
  if (p.has_ethernet) {
    d["eth_src"] = MacToString(p.eth_src);
    d["eth_dst"] = MacToString(p.eth_dst);
    if (p.has_vlan) {
      d["vlan_id"] = p.vlan_id;
      d["vlan_pcp"] = p.vlan_pcp;
    }
    d["ethertype"] = p.ethertype;
    if (p.ethertype == ethertype::kArp) {
      d["arp_op"] = p.arp.op;
      d["arp_sender_mac"] = MacToString(p.arp.sender_mac);
      d["arp_sender_ip"] = p.arp.sender_ip.ToString();
      d["arp_target_mac"] = MacToString(p.arp.target_mac);
      d["arp_target_ip"] = p.arp.target_ip.ToString();
      return d;
    }
    if (p.family == Family::kNone) return d;
  }
  d["l3_offset"] = p.l3_offset;
  d["src"] = p.src.ToString();
  d["dst"] = p.dst.ToString();
  d["family"] = p.family == Family::kV4 ? 4 : 6;
  d["ttl"] = p.ttl;
  d["tos"] = p.tos;
  d["l3_length"] = p.l3_length;
  d["fragment"] = p.fragment;
  d["more_fragments"] = p.more_fragments;
  d["fragment_offset"] = p.fragment_offset;
  if (p.family == Family::kV4) {
    d["dont_fragment"] = p.dont_fragment;
    d["fragment_id"] = p.fragment_id;
    d["ipv4_options"] = p.ipv4_options;
  } else {
    d["flow_label"] = p.flow_label;
    d["has_fragment_header"] = p.has_fragment_header;
    if (p.has_fragment_header) d["fragment_id"] = p.fragment_id;
    if (p.ext_headers & exthdr::kRouting) d["routing_type"] = p.routing_type;
  }
  d["ext_headers"] = p.ext_headers;
  d["proto"] = p.proto;
  d["l4_offset"] = p.l4_offset;
  d["l4_present"] = p.l4_present;
  d["payload_offset"] = p.payload_offset;
  d["payload_length"] = p.payload_length;
  if (p.is_tcp()) {
    d["src_port"] = p.src_port;
    d["dst_port"] = p.dst_port;
    d["tcp_seq"] = p.tcp_seq;
    d["tcp_ack"] = p.tcp_ack;
    d["tcp_flags"] = p.tcp_flags;
    d["tcp_window"] = p.tcp_window;
    d["tcp_header_len"] = p.tcp_header_len;
    d["l4_checksum"] = p.l4_checksum;
    const TcpOptionValues& o = p.tcp_options;
    if (o.has_mss) d["tcp_mss"] = o.mss;
    if (o.has_window_scale) d["tcp_wscale"] = o.window_scale;
    d["tcp_sack_permitted"] = o.sack_permitted;
    d["tcp_sack_blocks"] = o.sack_blocks;
    if (o.has_timestamps) {
      d["tcp_ts_val"] = o.ts_value;
      d["tcp_ts_ecr"] = o.ts_echo;
    }
  } else if (p.is_udp()) {
    d["src_port"] = p.src_port;
    d["dst_port"] = p.dst_port;
    d["udp_length"] = p.udp_length;
    d["l4_checksum"] = p.l4_checksum;
  } else if (p.is_icmp()) {
    d["icmp_type"] = p.icmp_type;
    d["icmp_code"] = p.icmp_code;
    d["l4_checksum"] = p.l4_checksum;
    d["icmp_error"] = p.icmp_error;
    if (p.is_icmp_query()) {
      d["icmp_id"] = p.icmp_id;
      d["icmp_seq"] = p.icmp_seq;
    }
    if (p.icmp_error) d["inner"] = DescribeQuote(p.inner);
  }
  d["checksums_ok"] = VerifyChecksums(bytes, p) == ParseError::kOk;
  return d;
}

std::vector<std::string> JsonDiff(const json& ours, const json& scapy, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& [key, value] : ours.items()) {
    if (!scapy.contains(key)) {
      out.push_back(prefix + key + ": " + value.dump() + " vs (absent)");
    } else if (value.is_object() && scapy[key].is_object()) {
      auto sub = JsonDiff(value, scapy[key], prefix + key + ".");
      out.insert(out.end(), sub.begin(), sub.end());
    } else if (value != scapy[key]) {
      out.push_back(prefix + key + ": " + value.dump() + " vs " + scapy[key].dump());
    }
  }
  for (auto& [key, value] : scapy.items())
    if (!ours.contains(key)) out.push_back(prefix + key + ": (absent) vs " + value.dump());
  return out;
}

std::string RunCommand(const std::string& command, int* status) {
  int wait_status = -1;
  std::string out = hapf::testing::RunShell(command, &wait_status);
  *status = hapf::testing::ExitCode(wait_status);
  return out;
}

json ScapyDescribe(const std::vector<PcapForScapy>& files) {
  std::string command = std::string(kPython) + " " + GenPacketsScript() + " --describe";
  for (const PcapForScapy& f : files) {
    std::string error;
    auto writer = PcapWriter::Open(f.path, f.dlt, &error);
    if (!writer) return json::array();
    for (const auto& p : f.packets) writer->Write(p);
    command += " " + f.path;
  }
  int status = 0;
  std::string out = RunCommand(command, &status);
  if (status != 0) return json::array();
  return json::parse(out, nullptr, /*allow_exceptions=*/false);
}

std::string OracleDir() { return std::string(HAPF_BINARY_DIR) + "/tests/net/scapy-oracle"; }

}  // namespace hapf::net::testing
