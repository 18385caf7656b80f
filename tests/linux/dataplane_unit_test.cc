// Unit tests of the data plane's pure parts: the nf_tables batch, verdict
// merging, transport checksums and interface naming.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>

#include <set>
#include <string>
#include <vector>

#include "linux/iface_table.h"
#include "linux/netlink_util.h"
#include "linux/nfq_dataplane.h"
#include "linux/nfq_packet.h"
#include "linux/nft_ruleset.h"

namespace hapf::linux {
namespace {

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Packets built by scapy (checksums as scapy computed them).
const char* kV4Udp = "450000210001000040118e93c0000202c63364029c401b59000d172d70726f6265";
const char* kV6Tcp =
    "600000000014064020010db800010000000000000000000220010db80002000000000000000000029c400016000003e8000000005002ffff"
    "b42b0000";
const char* kV6HopByHopUdp =
    "600000000013004020010db800010000000000000000000220010db8000200000000000000000002110001040000000013881b58000bb1"
    "1c616263";
const char* kV4Fragment = "4500001d0001200040116e97c0000202c63364020001000200099ba078";

struct Msg {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint16_t res_id = 0;
  std::set<std::string> tables;  // NFTA_*_TABLE / NFTA_TABLE_NAME values
};

std::vector<Msg> Messages(const std::vector<uint8_t>& batch) {
  std::vector<Msg> out;
  int len = static_cast<int>(batch.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data()); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    Msg m;
    m.type = nlh->nlmsg_type;
    m.flags = nlh->nlmsg_flags;
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    m.res_id = ntohs(nfg->res_id);
    ForEachMsgAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      // NFTA_TABLE_NAME, NFTA_CHAIN_TABLE and NFTA_RULE_TABLE are all type 1.
      if (mnl_attr_get_type(a) == 1 && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
        m.tables.insert(mnl_attr_get_str(a));
      }
    });
    out.push_back(m);
  }
  return out;
}

uint16_t NftType(int msg) { return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg); }

TEST(NftRuleset, BatchIsFramedAndTouchesOnlyItsOwnTable) {
  RulesetSpec spec;
  spec.table = "hapf";
  std::vector<Msg> msgs = Messages(BuildInstallBatch(spec, QueueBackend::kCompatNfqueue, 7));
  ASSERT_GE(msgs.size(), 5u);
  EXPECT_EQ(msgs.front().type, NFNL_MSG_BATCH_BEGIN);
  EXPECT_EQ(msgs.front().res_id, NFNL_SUBSYS_NFTABLES);
  EXPECT_EQ(msgs.back().type, NFNL_MSG_BATCH_END);
  // add, delete, add: a stale table is replaced within the transaction.
  EXPECT_EQ(msgs[1].type, NftType(NFT_MSG_NEWTABLE));
  EXPECT_EQ(msgs[2].type, NftType(NFT_MSG_DELTABLE));
  EXPECT_EQ(msgs[3].type, NftType(NFT_MSG_NEWTABLE));
  for (size_t i = 1; i + 1 < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].tables, std::set<std::string>{"hapf"}) << "message " << i;
    EXPECT_TRUE(msgs[i].flags & NLM_F_ACK);
    EXPECT_NE(msgs[i].type, NftType(NFT_MSG_DELRULE));
    EXPECT_NE(msgs[i].type, NftType(NFT_MSG_DELCHAIN));
  }
  std::vector<Msg> removal = Messages(BuildRemoveBatch("hapf", 1));
  ASSERT_EQ(removal.size(), 4u);
  EXPECT_EQ(removal[2].type, NftType(NFT_MSG_DELTABLE));
  EXPECT_EQ(removal[2].tables, std::set<std::string>{"hapf"});
}

TEST(NftRuleset, SplitLayoutExpressions) {
  RulesetSpec spec;
  spec.skip = {"lo"};
  std::vector<std::string> compat = BatchExpressionNames(BuildInstallBatch(spec, QueueBackend::kCompatNfqueue, 1));
  std::vector<std::string> expected = {
      "notrack",                                // prerouting: conntrack out of the way
      "notrack",                                // output
      "meta", "bitwise", "cmp", "immediate",    // output: own replies not queued
      "meta", "cmp", "immediate",               // output: skip lo
      "target",                                 // output: queue
      "meta", "cmp", "immediate", "target",     // prerouting: skip lo, queue
      "meta", "cmp", "immediate", "target",     // forward: skip lo, queue
  };
  EXPECT_EQ(compat, expected);
  std::vector<std::string> native = BatchExpressionNames(BuildInstallBatch(spec, QueueBackend::kNative, 1));
  for (std::string& e : expected) {
    if (e == "target") e = "queue";
  }
  EXPECT_EQ(native, expected);
}

TEST(NftRuleset, OnceLayoutQueuesInputForwardOutput) {
  RulesetSpec spec;
  spec.layout = QueueLayout::kOnce;
  spec.skip = {};
  spec.generated_mark = 0;
  std::vector<std::string> names = BatchExpressionNames(BuildInstallBatch(spec, QueueBackend::kNative, 1));
  std::vector<std::string> expected = {"notrack", "notrack", "queue", "queue", "queue"};
  EXPECT_EQ(names, expected);
}

// The queueing rules of a native batch, in order: the chain, the protocol a
// rule matches first (meta l4proto == P; -1 for none) and the queue range.
struct QueueRule {
  std::string chain;
  int l4proto = -1;
  uint16_t num = 0, total = 0;
  std::string iface;  // the interface name the rule compares, if any
  bool operator==(const QueueRule&) const = default;
};

std::vector<QueueRule> QueueRules(const std::vector<uint8_t>& batch) {
  std::vector<QueueRule> out;
  int len = static_cast<int>(batch.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data()); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    if (nlh->nlmsg_type != NftType(NFT_MSG_NEWRULE)) continue;
    QueueRule rule;
    bool queues = false, l4proto_loaded = false, iface_loaded = false;
    ForEachMsgAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      if (mnl_attr_get_type(a) == NFTA_RULE_CHAIN) rule.chain = mnl_attr_get_str(a);
      if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS) return;
      ForEachNested(a, [&](const nlattr* elem) {
        std::string name;
        const nlattr* data = nullptr;
        ForEachNested(elem, [&](const nlattr* f) {
          if (mnl_attr_get_type(f) == NFTA_EXPR_NAME) name = mnl_attr_get_str(f);
          if (mnl_attr_get_type(f) == NFTA_EXPR_DATA) data = f;
        });
        if (data == nullptr) return;
        ForEachNested(data, [&](const nlattr* f) {
          const uint16_t t = mnl_attr_get_type(f);
          if (name == "meta" && t == NFTA_META_KEY) {
            const uint32_t key = ntohl(mnl_attr_get_u32(f));
            l4proto_loaded = key == NFT_META_L4PROTO;
            iface_loaded = key == NFT_META_IIFNAME || key == NFT_META_OIFNAME;
          }
          if (name == "cmp" && t == NFTA_CMP_DATA && iface_loaded) {
            ForEachNested(f, [&](const nlattr* v) { rule.iface = static_cast<const char*>(mnl_attr_get_payload(v)); });
          }
          if (name == "cmp" && t == NFTA_CMP_DATA && l4proto_loaded) {
            ForEachNested(f, [&](const nlattr* v) { rule.l4proto = *static_cast<const uint8_t*>(mnl_attr_get_payload(v)); });
          }
          if (name == "queue" && t == NFTA_QUEUE_NUM) rule.num = ntohs(mnl_attr_get_u16(f)), queues = true;
          if (name == "queue" && t == NFTA_QUEUE_TOTAL) rule.total = ntohs(mnl_attr_get_u16(f));
        });
      });
    });
    if (queues) out.push_back(rule);
  }
  return out;
}

// CARP and pfsync go to the control queue ahead of the data range, in every
// chain that queues, after the skip list and the own-packet exemption (hapfd's
// own adverts and pfsync packets still leave unqueued).
TEST(NftRuleset, ControlQueueTakesCarpAndPfsyncBeforeTheDataRange) {
  RulesetSpec spec;
  spec.queue_base = 10;
  spec.queue_count = 2;
  spec.control_queue = 12;
  std::vector<std::string> names = BatchExpressionNames(BuildInstallBatch(spec, QueueBackend::kCompatNfqueue, 1));
  std::vector<std::string> expected = {
      "notrack", "notrack",
      "meta", "bitwise", "cmp", "immediate",  // output: own packets not queued
      "meta", "cmp", "immediate",             // output: skip lo
      "meta", "cmp", "target",                // output: CARP to the control queue
      "meta", "cmp", "target",                // output: pfsync to the control queue
      "target",                               // output: the data range
      "meta", "cmp", "immediate", "meta", "cmp", "target", "meta", "cmp", "target", "target",  // prerouting
      "meta", "cmp", "immediate", "meta", "cmp", "target", "meta", "cmp", "target", "target",  // forward
  };
  EXPECT_EQ(names, expected);
  const std::vector<QueueRule> split = QueueRules(BuildInstallBatch(spec, QueueBackend::kNative, 1));
  const std::vector<QueueRule> want_split = {
      {"output", 112, 12, 1, ""},     {"output", 240, 12, 1, ""},     {"output", -1, 10, 2, ""},
      {"prerouting", 112, 12, 1, ""}, {"prerouting", 240, 12, 1, ""}, {"prerouting", -1, 10, 2, ""},
      {"forward", 112, 12, 1, ""},    {"forward", 240, 12, 1, ""},    {"forward", -1, 10, 2, ""},
  };
  EXPECT_EQ(split, want_split);
  spec.layout = QueueLayout::kOnce;
  const std::vector<QueueRule> once = QueueRules(BuildInstallBatch(spec, QueueBackend::kNative, 1));
  std::vector<QueueRule> want_once = want_split;  // input takes prerouting's place
  for (QueueRule& r : want_once) {
    if (r.chain == "prerouting") r.chain = "input";
  }
  EXPECT_EQ(once, want_once);
  // With a syncdev only pfsync on it takes the control queue (in by it; out by it on output).
  spec.sync_device = "em2";
  std::vector<QueueRule> want_synced = want_once;
  for (QueueRule& r : want_synced) {
    if (r.l4proto == 240) r.iface = "em2";
  }
  EXPECT_EQ(QueueRules(BuildInstallBatch(spec, QueueBackend::kNative, 1)), want_synced);
  // Off: one queue rule per chain, all to the data range.
  spec.sync_device.clear();
  spec.control_queue = kNoControlQueue;
  for (const QueueRule& r : QueueRules(BuildInstallBatch(spec, QueueBackend::kNative, 1))) {
    EXPECT_EQ(r.l4proto, -1) << r.chain;
    EXPECT_EQ(r.num, 10) << r.chain;
  }
}

// The control queue follows the data range; the table sends CARP and pfsync to it.
TEST(DataPlaneConfig, ControlQueueFollowsTheDataRange) {
  DataPlaneConfig c;
  c.queue_base = 4;
  c.queue_count = 3;
  EXPECT_EQ(c.ControlQueue(), kNoControlQueue);  // off unless given a depth
  EXPECT_EQ(c.Ruleset().control_queue, kNoControlQueue);
  c.control_queue_maxlen = kControlQueueMaxlen;
  EXPECT_EQ(c.ControlQueue(), 7);
  EXPECT_EQ(c.Ruleset().control_queue, 7);
  c.sync_device = "em2";
  EXPECT_EQ(c.Ruleset().sync_device, "em2");
  c.queue_base = 65535;
  c.queue_count = 1;
  EXPECT_EQ(c.ControlQueue(), kNoControlQueue);  // no number left after the range
}

TEST(KernelQueueStats, ParsesProcRows) {
  // As Linux 6.x prints it: queue_num peer_portid queue_total copy_mode
  // copy_range queue_dropped user_dropped id_sequence 1.
  const std::string text =
      "    0 123456     5 2 65535   710     3   200000  1\n"
      "    2 4294967295     0 2 65535     0     0 4294967295  1\n"
      "garbage\n"
      "    3  77";
  std::vector<KernelQueueStats> rows = ParseKernelQueueStats(text);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].queue, 0);
  EXPECT_EQ(rows[0].portid, 123456u);
  EXPECT_EQ(rows[0].waiting, 5u);
  EXPECT_EQ(rows[0].queue_dropped, 710u);
  EXPECT_EQ(rows[0].user_dropped, 3u);
  EXPECT_EQ(rows[0].id_sequence, 200000u);
  EXPECT_EQ(rows[1].queue, 2);
  EXPECT_EQ(rows[1].id_sequence, 4294967295u);
  EXPECT_TRUE(ParseKernelQueueStats("").empty());
}

struct ParsedVerdict {
  int type;
  uint32_t id;
  uint32_t verdict;
  std::vector<uint8_t> payload;
};

std::vector<ParsedVerdict> ParseVerdicts(std::span<const uint8_t> bytes) {
  std::vector<ParsedVerdict> out;
  int len = static_cast<int>(bytes.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(bytes.data()); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    ParsedVerdict v{nlh->nlmsg_type & 0xff, 0, 0, {}};
    EXPECT_EQ(nlh->nlmsg_type >> 8, NFNL_SUBSYS_QUEUE);
    ForEachMsgAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
      if (mnl_attr_get_type(a) == NFQA_VERDICT_HDR) {
        const auto* h = static_cast<const nfqnl_msg_verdict_hdr*>(mnl_attr_get_payload(a));
        v.id = ntohl(h->id);
        v.verdict = ntohl(h->verdict);
      } else if (mnl_attr_get_type(a) == NFQA_PAYLOAD) {
        const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
        v.payload.assign(p, p + mnl_attr_get_payload_len(a));
      }
    });
    out.push_back(v);
  }
  return out;
}

TEST(VerdictWriter, MergesRunsOfEqualVerdicts) {
  VerdictWriter w(3, 1 << 16);
  for (uint32_t id = 10; id <= 14; ++id) ASSERT_TRUE(w.Add(id, Verdict::kAccept));
  std::vector<ParsedVerdict> v = ParseVerdicts(w.Finish());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].type, NFQNL_MSG_VERDICT_BATCH);
  EXPECT_EQ(v[0].id, 14u);
  EXPECT_EQ(v[0].verdict, static_cast<uint32_t>(NF_ACCEPT));
}

// While a queue holds a packet (pfsync defer), a batch verdict would release
// it too (the kernel applies one to every earlier id): each id goes alone.
TEST(VerdictWriter, WithoutBatchingEveryVerdictIsItsOwnMessage) {
  VerdictWriter w(3, 1 << 16);
  w.set_batching(false);
  for (uint32_t id = 10; id <= 12; ++id) ASSERT_TRUE(w.Add(id, Verdict::kAccept));
  std::vector<ParsedVerdict> v = ParseVerdicts(w.Finish());
  ASSERT_EQ(v.size(), 3u);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].type, NFQNL_MSG_VERDICT);
    EXPECT_EQ(v[i].id, 10u + i);
  }
  w.set_batching(true);
  for (uint32_t id = 13; id <= 15; ++id) ASSERT_TRUE(w.Add(id, Verdict::kAccept));
  v = ParseVerdicts(w.Finish());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].type, NFQNL_MSG_VERDICT_BATCH);
}

TEST(VerdictWriter, SplitsAtVerdictChangesGapsAndRewrites) {
  VerdictWriter w(0, 1 << 16);
  ASSERT_TRUE(w.Add(1, Verdict::kAccept));
  ASSERT_TRUE(w.Add(2, Verdict::kAccept));
  ASSERT_TRUE(w.Add(3, Verdict::kDrop));
  ASSERT_TRUE(w.Add(4, Verdict::kAccept));
  ASSERT_TRUE(w.Add(6, Verdict::kAccept));  // 5 never reached us (ENOBUFS): no batch across it
  const uint8_t payload[] = {0x45, 0, 0, 20};
  ASSERT_TRUE(w.Add(7, Verdict::kAcceptRewritten, payload));
  ASSERT_TRUE(w.Add(8, Verdict::kDrop));
  std::vector<ParsedVerdict> v = ParseVerdicts(w.Finish());
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0].type, NFQNL_MSG_VERDICT_BATCH);
  EXPECT_EQ(v[0].id, 2u);
  EXPECT_EQ(v[1].type, NFQNL_MSG_VERDICT);
  EXPECT_EQ(v[1].id, 3u);
  EXPECT_EQ(v[1].verdict, static_cast<uint32_t>(NF_DROP));
  EXPECT_EQ(v[2].id, 4u);
  EXPECT_EQ(v[2].type, NFQNL_MSG_VERDICT);
  EXPECT_EQ(v[3].id, 6u);
  EXPECT_EQ(v[4].id, 7u);
  EXPECT_EQ(v[4].verdict, static_cast<uint32_t>(NF_ACCEPT));
  EXPECT_EQ(v[4].payload, std::vector<uint8_t>(std::begin(payload), std::end(payload)));
  EXPECT_EQ(v[5].id, 8u);
  EXPECT_EQ(v[5].verdict, static_cast<uint32_t>(NF_DROP));
  EXPECT_TRUE(ParseVerdicts(w.Finish()).empty());
}

TEST(VerdictWriter, RefusesWhatDoesNotFitAndNeverOverflows) {
  VerdictWriter w(0, 512);
  std::vector<uint8_t> big(400, 0x45);
  EXPECT_FALSE(w.Add(1, Verdict::kAcceptRewritten, big));
  std::vector<uint8_t> small(200, 0x45);
  ASSERT_TRUE(w.Add(1, Verdict::kAcceptRewritten, small));
  // Alternating verdicts, each its own message, until the buffer says no.
  uint32_t id = 2;
  while (w.Add(id, id % 2 ? Verdict::kDrop : Verdict::kAccept)) ++id;
  std::span<const uint8_t> bytes = w.Finish();
  EXPECT_LE(bytes.size(), 512u);
  std::vector<ParsedVerdict> v = ParseVerdicts(bytes);
  ASSERT_EQ(v.size(), id - 1);  // the rewrite and every accepted verdict
  EXPECT_EQ(v[0].payload, small);
  EXPECT_EQ(v.back().id, id - 1);
  ASSERT_TRUE(w.Add(id, Verdict::kAccept));  // room again after Finish
}

void ExpectChecksumRewritten(const char* hex, size_t field_from_end_of_l4_header_start, uint16_t expected) {
  std::vector<uint8_t> pkt = Hex(hex);
  std::optional<L4Location> l4 = LocateL4(pkt);
  ASSERT_TRUE(l4.has_value());
  uint8_t* field = &pkt[l4->offset + field_from_end_of_l4_header_start];
  field[0] = 0x12;  // a partial (pseudo-header only) or stale value
  field[1] = 0x34;
  ASSERT_TRUE(WriteL4Checksum(pkt));
  EXPECT_EQ((field[0] << 8) | field[1], expected);
  EXPECT_EQ(pkt, Hex(hex));
}

TEST(NfqPacket, WritesScapyChecksums) {
  ExpectChecksumRewritten(kV4Udp, 6, 0x172d);
  ExpectChecksumRewritten(kV6Tcp, 16, 0xb42b);
  ExpectChecksumRewritten(kV6HopByHopUdp, 6, 0xb11c);
}

TEST(NfqPacket, LocatesTransportHeaders) {
  std::vector<uint8_t> v6 = Hex(kV6HopByHopUdp);
  std::optional<L4Location> l4 = LocateL4(v6);
  ASSERT_TRUE(l4.has_value());
  EXPECT_EQ(l4->protocol, IPPROTO_UDP);
  EXPECT_EQ(l4->offset, 48u);
  EXPECT_EQ(l4->length, 11u);
  std::vector<uint8_t> frag = Hex(kV4Fragment);
  EXPECT_FALSE(LocateL4(frag).has_value());
  EXPECT_FALSE(WriteL4Checksum(frag));
  // Truncations never read past the end.
  std::vector<uint8_t> v4 = Hex(kV4Udp);
  for (size_t n = 0; n < v4.size(); ++n) {
    std::vector<uint8_t> cut(v4.begin(), v4.begin() + static_cast<long>(n));
    EXPECT_FALSE(WriteL4Checksum(cut)) << n;
  }
  for (size_t n = 0; n < v6.size(); ++n) {
    std::vector<uint8_t> cut(v6.begin(), v6.begin() + static_cast<long>(n));
    EXPECT_FALSE(WriteL4Checksum(cut)) << n;
  }
}

TEST(IfaceTable, CarpMacvlanCountsAsItsCarpdev) {
  auto link = [](uint32_t index, const char* name, const char* kind, uint32_t lower) {
    IfaceEntry e;
    e.index = index;
    e.name = name;
    e.kind = kind;
    e.link_index = lower;
    return e;
  };
  std::vector<IfaceEntry> links = {
      link(1, "lo", "", 0),
      link(2, "em0", "", 0),
      link(3, "carp0", "macvlan", 2),
      link(4, "carp1", "veth", 2),     // not a macvlan: keeps its name
      link(5, "carpx", "macvlan", 2),  // not carpN
      link(6, "vip", "macvlan", 2),
      link(9000, "big", "", 0),
  };
  IfaceNaming naming;
  naming.aliases = {{"vip", "em1"}};
  naming.groups = {{"em0", {"egress", "em"}}};
  IfaceTable t(links, naming);
  ASSERT_NE(t.Find(3), nullptr);
  EXPECT_EQ(t.Find(3)->name, "carp0");
  EXPECT_EQ(t.Find(3)->rule_name, "em0");
  EXPECT_TRUE(t.Find(3)->carp);
  EXPECT_EQ(t.Find(4)->rule_name, "carp1");
  EXPECT_TRUE(t.Find(4)->carp);
  EXPECT_EQ(t.Find(5)->rule_name, "carpx");
  EXPECT_FALSE(t.Find(5)->carp);
  EXPECT_EQ(t.Find(6)->rule_name, "em1");
  EXPECT_EQ(t.Find(2)->rule_name, "em0");
  EXPECT_FALSE(t.Find(2)->carp);
  EXPECT_EQ(t.Find(9000)->name, "big");
  EXPECT_EQ(t.Find(7), nullptr);
  EXPECT_EQ(t.Find(0), nullptr);
  EXPECT_EQ(t.FindByName("em0")->index, 2u);
  // Driver groups as on OpenBSD, configured groups added once.
  EXPECT_EQ(t.Find(2)->groups, (std::vector<std::string>{"em", "egress"}));
  EXPECT_TRUE(t.Find(3)->InGroup("carp"));
  EXPECT_TRUE(t.Find(4)->InGroup("carp"));
  EXPECT_FALSE(t.Find(5)->InGroup("carp"));
  EXPECT_TRUE(t.Find(6)->groups.empty());
  EXPECT_TRUE(t.Find(1)->groups.empty());
}

TEST(IfaceTable, DriverGroupStripsTheUnitNumber) {
  EXPECT_EQ(DriverGroup("em0"), "em");
  EXPECT_EQ(DriverGroup("carp12"), "carp");
  EXPECT_EQ(DriverGroup("veth1a2"), "veth1a");
  EXPECT_EQ(DriverGroup("lo"), "");
  EXPECT_EQ(DriverGroup("42"), "");
  EXPECT_EQ(DriverGroup(""), "");
}

std::vector<uint8_t> LinkMessage(uint16_t type, int index, const char* name, const char* kind, uint32_t link) {
  std::vector<uint8_t> buf(4096);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_index = index;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
  if (link != 0) mnl_attr_put_u32(nlh, IFLA_LINK, link);
  if (kind != nullptr) {
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
    mnl_attr_nest_end(nlh, info);
  }
  buf.resize(nlh->nlmsg_len);
  return buf;
}

TEST(IfaceRegistry, AppliesLinkEventsAndPublishesSnapshots) {
  IfaceRegistry reg;
  uint64_t g0 = reg.generation();
  reg.ApplyLinkMessage(LinkMessage(RTM_NEWLINK, 2, "em0", nullptr, 0).data());
  reg.ApplyLinkMessage(LinkMessage(RTM_NEWLINK, 7, "carp0", "macvlan", 2).data());
  EXPECT_GT(reg.generation(), g0);
  IfaceView view(reg);
  ASSERT_NE(view.Find(7), nullptr);
  EXPECT_EQ(view.Find(7)->rule_name, "em0");
  // A rename of the lower device shows on the next refresh.
  reg.ApplyLinkMessage(LinkMessage(RTM_NEWLINK, 2, "em9", nullptr, 0).data());
  view.Refresh();
  EXPECT_EQ(view.Find(7)->rule_name, "em9");
  reg.ApplyLinkMessage(LinkMessage(RTM_DELLINK, 7, "carp0", "macvlan", 2).data());
  view.Refresh();
  // Index 7 is gone from the table (ResolveNow asks the kernel, which has no
  // carp0 with that index in this namespace... or has another interface 7).
  const IfaceEntry* e = view.Find(7);
  EXPECT_TRUE(e == nullptr || e->name != "carp0");
  // Malformed: too short for ifinfomsg, ignored.
  std::vector<uint8_t> bad = LinkMessage(RTM_NEWLINK, 3, "x", nullptr, 0);
  reinterpret_cast<nlmsghdr*>(bad.data())->nlmsg_len = sizeof(nlmsghdr) + 4;
  reg.ApplyLinkMessage(bad.data());
  EXPECT_EQ(reg.Snapshot()->Find(3), nullptr);
}

TEST(IfaceRegistry, IgnoresAttributesBeyondTheMessage) {
  // An IFLA_IFNAME of 7 bytes ("ab" and NUL) ends at byte 39; a message that
  // says it is 38 bytes long must not yield that name (found by the fuzzer:
  // libmnl's aligned tail let the attribute reach into missing padding).
  std::vector<uint8_t> msg = LinkMessage(RTM_NEWLINK, 5, "ab", nullptr, 0);
  auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
  ASSERT_EQ(nlh->nlmsg_len, 40u);
  nlh->nlmsg_len = 38;
  IfaceRegistry reg;
  reg.ApplyLinkMessage(msg.data());
  EXPECT_EQ(reg.Snapshot()->Find(5), nullptr);
  nlh->nlmsg_len = 39;  // exact (unaligned) length: fine
  reg.ApplyLinkMessage(msg.data());
  ASSERT_NE(reg.Snapshot()->Find(5), nullptr);
  EXPECT_EQ(reg.Snapshot()->Find(5)->name, "ab");
}

TEST(IfaceRegistry, DumpsTheKernelsLinks) {
  IfaceRegistry reg;
  ASSERT_EQ(reg.StartWatching(), "");
  std::shared_ptr<const IfaceTable> t = reg.Snapshot();
  const IfaceEntry* lo = t->FindByName("lo");
  ASSERT_NE(lo, nullptr);
  EXPECT_EQ(lo->rule_name, "lo");
  reg.StopWatching();
}

}  // namespace
}  // namespace hapf::linux
