// src/net against an independent implementation: scapy builds packets and
// dissects them (tests/net/gen_packets.py); ParsePacket must agree field by
// field. Builders and rewrites go the other way: this code writes packets
// and scapy must read back what was meant, with correct checksums.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "net/build.h"
#include "net/packet.h"
#include "net/packet_oracle.h"
#include "net/pcap.h"

namespace hapf::net {
namespace {

using nlohmann::json;
using testing::Describe;
using testing::JsonDiff;

const std::map<std::string, ParseError> kErrorNames = {
    {"kTruncated", ParseError::kTruncated},
    {"kBadVersion", ParseError::kBadVersion},
    {"kBadHeaderLength", ParseError::kBadHeaderLength},
    {"kBadLength", ParseError::kBadLength},
    {"kBadOption", ParseError::kBadOption},
    {"kBadExtensionHeader", ParseError::kBadExtensionHeader},
    {"kBadFragment", ParseError::kBadFragment},
    {"kBadQuotedPacket", ParseError::kBadQuotedPacket},
};

struct Case {
  std::string name;
  LinkType link;
  std::vector<uint8_t> bytes;
  json expected;  // {"error": ...} or {"fields": ...}
};

std::string WorkDir() {
  static const std::string dir = [] {
    auto d = std::filesystem::path(HAPF_BINARY_DIR) / "tests" / "net" / ("scapy-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

class ScapyOracleTest : public ::testing::Test {
 protected:
  // The build ran gen_packets.py (tests/net/packet.cmake) once for all cases.
  static void SetUpTestSuite() {
    std::ifstream f(testing::OracleDir() + "/expected.json");
    ASSERT_TRUE(f) << "no scapy output in " << testing::OracleDir();
    json expected = json::parse(f);
    std::map<std::string, std::vector<PcapRecord>> pcaps;
    for (const char* link : {"eth", "raw"}) {
      int dlt = 0;
      std::string error;
      auto records = ReadPcapFile(testing::OracleDir() + "/" + link + ".pcap", &dlt, &error);
      ASSERT_TRUE(records) << error;
      ASSERT_EQ(LinkTypeOfDlt(dlt), std::string(link) == "eth" ? LinkType::kEthernet : LinkType::kRawIp);
      pcaps[link] = std::move(*records);
    }
    cases_ = new std::vector<Case>;
    for (const json& e : expected) {
      std::string link = e["pcap"];
      cases_->push_back({e["name"], link == "eth" ? LinkType::kEthernet : LinkType::kRawIp,
                         pcaps[link].at(e["index"].get<size_t>()).data, e});
    }
  }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(WorkDir(), ignored);
  }
  static const std::vector<Case>& cases() { return *cases_; }
  static std::vector<const Case*> ValidCases() {
    std::vector<const Case*> out;
    for (const Case& c : cases())
      if (c.expected.contains("fields")) out.push_back(&c);
    return out;
  }

  static std::vector<Case>* cases_;
};
std::vector<Case>* ScapyOracleTest::cases_ = nullptr;

TEST_F(ScapyOracleTest, CoversWhatTheIssueAsksFor) {
  // Guards against the generator silently losing cases.
  std::map<std::string, int> seen;
  for (const Case& c : cases()) ++seen[c.name.substr(0, c.name.find('_'))];
  EXPECT_GE(cases().size(), 50u);
  for (const char* family : {"tcp4", "vlan", "arp", "ipv4", "icmp4", "icmp6", "frag4", "frag6", "ext6", "ah4"})
    EXPECT_GT(seen[family], 0) << family;
}

TEST_F(ScapyOracleTest, EveryFieldMatchesScapy) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    ParsedPacket p;
    ParseError e = ParsePacket(c.bytes, c.link, p);
    if (c.expected.contains("error")) {
      EXPECT_EQ(ToString(e), ToString(kErrorNames.at(c.expected["error"])));
      continue;
    }
    ASSERT_EQ(e, ParseError::kOk) << ToString(e);
    for (const std::string& d : JsonDiff(Describe(c.bytes, p), c.expected["fields"])) ADD_FAILURE() << d;
  }
}

// Cutting a packet anywhere before its end must yield an error: the IP
// length fields say more bytes are due. Exact-size heap copies let ASan catch
// any read past the end.
TEST_F(ScapyOracleTest, TruncationAtEveryOffsetIsAnError) {
  size_t tried = 0;
  for (const Case* c : ValidCases()) {
    SCOPED_TRACE(c->name);
    const json& f = c->expected["fields"];
    // A non-IP ethertype is only checked up to the Ethernet header, and link
    // padding after an IP datagram is not needed.
    size_t must_fail_below = c->bytes.size();
    if (f.contains("family"))
      must_fail_below = f["l3_offset"].get<size_t>() + f["l3_length"].get<size_t>();
    else if (f.contains("ethertype") && !f.contains("arp_op"))
      must_fail_below = EthernetView::kHeaderLen;
    for (size_t n = 0; n < must_fail_below; ++n) {
      std::vector<uint8_t> cut(c->bytes.begin(), c->bytes.begin() + n);
      ParsedPacket p;
      EXPECT_NE(ParsePacket(cut, c->link, p), ParseError::kOk) << "cut at " << n;
      ++tried;
    }
  }
  EXPECT_GT(tried, 5000u);
}

// Every single-byte corruption of every packet parses to something or to an
// error, and whatever parses verifies and describes without reading past the end.
TEST_F(ScapyOracleTest, EveryByteCorruptedStaysInBounds) {
  for (const Case& c : cases()) {
    for (size_t i = 0; i < c.bytes.size(); ++i) {
      for (uint8_t x : {uint8_t{0x00}, uint8_t{0xff}, uint8_t(c.bytes[i] ^ 0x0f)}) {
        std::vector<uint8_t> b = c.bytes;
        b[i] = x;
        ParsedPacket p;
        if (ParsePacket(b, c.link, p) == ParseError::kOk) {
          (void)VerifyChecksums(b, p);
          EXPECT_LE(p.payload_offset + p.payload_length, b.size()) << c.name << " byte " << i;
        }
      }
    }
  }
}

// NAT rewrites: change every address and port the packet has (outer and
// quoted); scapy must then see the new values and still find every checksum
// right (or still wrong, for the packets that came with a wrong one).
TEST_F(ScapyOracleTest, RewritesKeepScapysChecksumsRight) {
  std::vector<std::vector<uint8_t>> rewritten[2];
  std::vector<json> ours[2];
  for (const Case* c : ValidCases()) {
    std::vector<uint8_t> b = c->bytes;
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(b, c->link, p), ParseError::kOk);
    if (p.family == Family::kNone) continue;
    SCOPED_TRACE(c->name);
    const bool v4 = p.family == Family::kV4;
    IpAddr new_src = *IpAddr::Parse(v4 ? "203.0.113.200" : "2001:db8:ffff::c8");
    IpAddr new_dst = *IpAddr::Parse(v4 ? "198.51.100.201" : "2001:db8:eeee::1:c9");
    EXPECT_EQ(RewriteAddress(b, p, Side::kSource, new_src), ParseError::kOk);
    EXPECT_EQ(RewriteAddress(b, p, Side::kDestination, new_dst), ParseError::kOk);
    if (p.is_tcp() || p.is_udp()) {
      EXPECT_EQ(RewritePort(b, p, Side::kSource, 61001), ParseError::kOk);
      EXPECT_EQ(RewritePort(b, p, Side::kDestination, 8080), ParseError::kOk);
    } else if (p.is_icmp_query()) {
      EXPECT_EQ(RewritePort(b, p, Side::kSource, 0xbeef), ParseError::kOk);
    } else {
      EXPECT_EQ(RewritePort(b, p, Side::kSource, 0xbeef), ParseError::kInvalidArgument);
    }
    if (p.icmp_error) {
      EXPECT_EQ(RewriteQuotedAddress(b, p, Side::kSource, new_dst), ParseError::kOk);
      EXPECT_EQ(RewriteQuotedAddress(b, p, Side::kDestination, new_src), ParseError::kOk);
      if (p.inner.has_ports || p.inner.has_icmp) {
        EXPECT_EQ(RewriteQuotedPort(b, p, Side::kSource, 8080), ParseError::kOk);
        EXPECT_EQ(RewriteQuotedPort(b, p, Side::kDestination, 61001), ParseError::kOk);
      }
    }
    // The updated summary must equal a fresh parse of the rewritten bytes.
    ParsedPacket again;
    ASSERT_EQ(ParsePacket(b, c->link, again), ParseError::kOk);
    EXPECT_EQ(Describe(b, p), Describe(b, again));
    EXPECT_EQ(VerifyChecksums(b, again) == ParseError::kOk, c->expected["fields"]["checksums_ok"].get<bool>());
    int k = c->link == LinkType::kEthernet ? 0 : 1;
    rewritten[k].push_back(b);
    ours[k].push_back(Describe(b, again));
  }
  json both = testing::ScapyDescribe({{WorkDir() + "/rewritten_eth.pcap", kDltEthernet, rewritten[0]},
                                      {WorkDir() + "/rewritten_raw.pcap", kDltRaw, rewritten[1]}});
  ASSERT_EQ(both.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const json& scapy = both[k];
    ASSERT_EQ(scapy.size(), ours[k].size());
    for (size_t i = 0; i < scapy.size(); ++i)
      for (const std::string& d : JsonDiff(ours[k][i], scapy[i])) ADD_FAILURE() << "packet " << i << ": " << d;
  }
}

// Builders: what this code writes, scapy must read as meant.
TEST_F(ScapyOracleTest, BuiltPacketsReadBackInScapy) {
  const MacAddr mac_a = {0x02, 0, 0, 0, 0, 0x0a}, mac_b = {0x02, 0, 0, 0, 0, 0x0b};
  EthernetHeader eth{mac_b, mac_a};
  EthernetHeader vlan{mac_b, mac_a, true, 0xa07b};
  IpHeader v4{*IpAddr::Parse("192.0.2.1"), *IpAddr::Parse("198.51.100.2"), 60, 0x28, 4242, true};
  IpHeader v6{*IpAddr::Parse("2001:db8::1"), *IpAddr::Parse("2001:db8:1::2"), 33, 0xb8, 0, false, 0xabcde};
  TcpHeader syn{.src_port = 40000, .dst_port = 443, .seq = 0x89abcdef, .ack = 0, .flags = tcpflag::kSyn,
                .window = 64240, .urgent = 0, .options = {}};
  syn.options = {.has_mss = true, .has_window_scale = true, .sack_permitted = true, .has_timestamps = true,
                 .mss = 1460, .window_scale = 7, .sack_blocks = 0, .ts_value = 1000, .ts_echo = 0};
  TcpHeader ack{.src_port = 443, .dst_port = 40000, .seq = 5, .ack = 6, .flags = tcpflag::kAck | tcpflag::kPush,
                .window = 501, .urgent = 0, .options = {}};
  ack.options.has_timestamps = true;
  ack.options.ts_value = 77;
  ack.options.ts_echo = 66;
  const std::vector<uint8_t> data(37, 0x5a);

  std::vector<std::vector<uint8_t>> eth_out, raw_out;
  auto add = [](std::vector<std::vector<uint8_t>>& to, auto&& build) {
    std::vector<uint8_t> buf(2000);
    size_t n = build(std::span<uint8_t>(buf));
    ASSERT_GT(n, 0u);
    buf.resize(n);
    to.push_back(buf);
  };
  for (const IpHeader* ip : {&v4, &v6}) {
    add(eth_out, [&](auto b) { return BuildTcp(b, &eth, *ip, syn, {}); });
    add(eth_out, [&](auto b) { return BuildTcp(b, &vlan, *ip, ack, data); });
    add(eth_out, [&](auto b) { return BuildUdp(b, &eth, *ip, 5353, 5354, data); });
    add(raw_out, [&](auto b) { return BuildUdp(b, nullptr, *ip, 1, 2, {}); });
    add(raw_out, [&](auto b) { return BuildIcmpEcho(b, nullptr, *ip, false, 0x1234, 7, data); });
    add(raw_out, [&](auto b) { return BuildIcmpEcho(b, nullptr, *ip, true, 0x1234, 8, {}); });
    // block return: a RST for the SYN and an unreachable for the UDP packet.
    ParsedPacket p;
    ASSERT_EQ(ParsePacket(eth_out[eth_out.size() - 3], LinkType::kEthernet, p), ParseError::kOk);
    add(raw_out, [&](auto b) { return BuildTcpResetFor(b, nullptr, p); });
    ASSERT_EQ(ParsePacket(eth_out.back(), LinkType::kEthernet, p), ParseError::kOk);
    const auto& udp = eth_out.back();
    add(eth_out, [&](auto b) { return BuildUnreachableFor(b, &eth, udp, p, 3, p.dst); });
    add(raw_out, [&](auto b) { return BuildIp(b, nullptr, *ip, ipproto::kCarp, data); });
  }
  add(eth_out, [&](auto b) { return BuildGratuitousArp(b, mac_a, *IpAddr::Parse("192.0.2.10"), true, 5); });
  add(eth_out, [&](auto b) {
    return BuildArp(b, eth, ArpView::kReply, mac_a, *IpAddr::Parse("192.0.2.1"), mac_b,
                    *IpAddr::Parse("192.0.2.2"));
  });
  add(eth_out, [&](auto b) {
    return BuildUnsolicitedNeighborAdvert(b, mac_a, *IpAddr::Parse("fe80::1"), *IpAddr::Parse("2001:db8::10"), false);
  });

  json both = testing::ScapyDescribe({{WorkDir() + "/built_eth.pcap", kDltEthernet, eth_out},
                                      {WorkDir() + "/built_raw.pcap", kDltRaw, raw_out}});
  ASSERT_EQ(both.size(), 2u);
  int k = 0;
  for (auto* set : {&eth_out, &raw_out}) {
    const LinkType link = k == 0 ? LinkType::kEthernet : LinkType::kRawIp;
    const json& scapy = both[k];
    ASSERT_EQ(scapy.size(), set->size());
    for (size_t i = 0; i < set->size(); ++i) {
      SCOPED_TRACE("set " + std::to_string(k) + " packet " + std::to_string(i));
      ParsedPacket p;
      ASSERT_EQ(ParsePacket((*set)[i], link, p), ParseError::kOk);
      json ours = Describe((*set)[i], p);
      for (const std::string& d : JsonDiff(ours, scapy[i])) ADD_FAILURE() << d;
      if (scapy[i].contains("checksums_ok")) {
        EXPECT_TRUE(scapy[i]["checksums_ok"].get<bool>());
      }
    }
    ++k;
  }
  // Spot checks that scapy saw what the builders were asked for.
  const json& first = both[0];
  EXPECT_EQ(first[0]["tcp_mss"], 1460);
  EXPECT_EQ(first[0]["tcp_wscale"], 7);
  EXPECT_EQ(first[0]["tcp_ts_val"], 1000);
  EXPECT_EQ(first[0]["tcp_sack_permitted"], true);
  EXPECT_EQ(first[0]["ttl"], 60);
  EXPECT_EQ(first[0]["tos"], 0x28);
  EXPECT_EQ(first[0]["dont_fragment"], true);
  EXPECT_EQ(first[0]["fragment_id"], 4242);
}

}  // namespace
}  // namespace hapf::net
