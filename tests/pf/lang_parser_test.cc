// Unit tests for the pf.conf front end: constructs the pfctl corpus never
// exercises (written against pf.conf(5)), the typed AST the engine consumes,
// error reporting and the resource limits.
#include <gtest/gtest.h>

#include <string>

#include "pf/lang_parser.h"
#include "pf/lang_printer.h"

namespace hapf::pf {
namespace {

ParseResult Parse(const std::string& text, ParseOptions opts = {}) {
  static const StaticHostEnvironment env = [] {
    StaticHostEnvironment e = StaticHostEnvironment::OpenBsdRegress();
    e.files = std::map<std::string, std::string>{
        {"inc.conf", "pass out proto udp\n"},
        {"hosts.txt", "# comment\n192.0.2.1\n198.51.100.0/24 !198.51.100.7\n"}};
    return e;
  }();
  return ParsePfConf(text, env, opts);
}

// Parses, expects success, and returns the -nv printout.
std::string Print(const std::string& text, ParseOptions opts = {}) {
  ParseResult r = Parse(text, opts);
  std::string errors;
  for (const std::string& m : r.messages) errors += m + "\n";
  EXPECT_TRUE(r.ok()) << errors;
  return FormatRuleset(r.ruleset);
}

// The printed form must parse back to itself.
void ExpectRoundTrip(const std::string& printed) {
  EXPECT_EQ(Print(printed), printed);
}

TEST(PfLangOptions, SetSkip) {
  // pf.conf(5): set skip on ifspec; pfctl prints the list in braces.
  std::string out = Print("set skip on { lo0 tun1000000 }\nset skip on lo\n");
  EXPECT_EQ(out, "set skip on { lo0 tun1000000 }\nset skip on { lo }\n");
  ParseResult r = Parse("set skip on lo0\n");
  ASSERT_EQ(r.ruleset.options.size(), 1u);
  EXPECT_EQ(r.ruleset.options[0].kind, OptionKind::kSkip);
  EXPECT_EQ(r.ruleset.options[0].interfaces, std::vector<std::string>{"lo0"});
  ExpectRoundTrip(out);
}

TEST(PfLangOptions, Syncookies) {
  ParseResult r = Parse("set syncookies adaptive (start 30%, end 10%)\nset syncookies never\nset syncookies adaptive\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.ruleset.options.size(), 3u);
  EXPECT_EQ(r.ruleset.options[0].text, "adaptive");
  EXPECT_EQ(r.ruleset.options[0].adaptive_start, 30u);
  EXPECT_EQ(r.ruleset.options[0].adaptive_end, 10u);
  EXPECT_EQ(r.ruleset.options[2].adaptive_start, 25u);  // pf's default watermarks
  EXPECT_EQ(r.ruleset.options[2].adaptive_end, 12u);
  std::string out = FormatRuleset(r.ruleset);
  EXPECT_EQ(out, "set syncookies adaptive (start 30%, end 10%)\nset syncookies never\nset syncookies adaptive\n");
  ExpectRoundTrip(out);
  EXPECT_FALSE(Parse("set syncookies sometimes\n").ok());
  EXPECT_FALSE(Parse("set syncookies adaptive (start 10%, end 20%)\n").ok());
}

TEST(PfLangOptions, StatePolicyAndFriends) {
  ParseResult r = Parse(
      "set state-policy if-bound\nset state-policy floating\nset ruleset-optimization basic\n"
      "set debug notice\nset limit { states 10000, src-nodes 500 }\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.ruleset.options[0].kind, OptionKind::kStatePolicy);
  EXPECT_FALSE(r.ruleset.options[0].flag);
  EXPECT_TRUE(r.ruleset.options[1].flag);
  EXPECT_EQ(r.ruleset.options[4].limit, LimitKind::kStates);
  EXPECT_EQ(r.ruleset.options[4].value, 10000u);
  EXPECT_EQ(r.ruleset.options[5].limit, LimitKind::kSrcNodes);
  std::string out = FormatRuleset(r.ruleset);
  EXPECT_EQ(out,
            "set state-policy if-bound\nset state-policy floating\nset ruleset-optimization basic\n"
            "set debug notice\nset limit states 10000\nset limit src-nodes 500\n");
  ExpectRoundTrip(out);
}

TEST(PfLangOptions, StateDefaultsAndPolicyApplyToLaterRules) {
  // pf.conf(5): state-defaults apply to rules without an explicit keep state;
  // state-policy if-bound binds the states of the rules that follow.
  ParseResult r = Parse("pass out proto udp\nset state-defaults no-sync, pflow\nset state-policy if-bound\n"
                        "pass out proto udp\npass out proto tcp keep state\npass out proto icmp keep state (floating)\n");
  ASSERT_TRUE(r.ok()) << r.messages.at(0);
  ASSERT_EQ(r.ruleset.rules.size(), 4u);
  EXPECT_FALSE(r.ruleset.rules[0].state.no_sync);
  EXPECT_FALSE(r.ruleset.rules[0].state.if_bound);
  EXPECT_TRUE(r.ruleset.rules[1].state.no_sync);
  EXPECT_TRUE(r.ruleset.rules[1].state.pflow);
  EXPECT_TRUE(r.ruleset.rules[1].state.if_bound);
  EXPECT_FALSE(r.ruleset.rules[2].state.no_sync);
  EXPECT_TRUE(r.ruleset.rules[2].state.if_bound);
  EXPECT_FALSE(r.ruleset.rules[3].state.if_bound);
  EXPECT_EQ(FormatRuleset(r.ruleset),
            "set state-defaults no-sync, pflow\nset state-policy if-bound\n"
            "pass out proto udp all\n"
            "pass out proto udp all keep state (no-sync, if-bound, pflow)\n"
            "pass out proto tcp all flags S/SA keep state (if-bound)\n"
            "pass out proto icmp all\n");
}

TEST(PfLangRules, OnceAndReceivedOn) {
  std::string out = Print("pass in on lo0 received-on tun1000000 label \"x\" once\n");
  EXPECT_EQ(out, "pass in on lo0 all received-on tun1000000 flags S/SA label \"x\" once\n");
  ExpectRoundTrip(out);
  ParseResult r = Parse("match in ! received-on lo0 once\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.ruleset.rules.size(), 1u);
  EXPECT_TRUE(r.ruleset.rules[0].once);
  ASSERT_TRUE(r.ruleset.rules[0].received_on);
  EXPECT_EQ(*r.ruleset.rules[0].received_on, "lo0");
  EXPECT_TRUE(r.ruleset.rules[0].received_on_negated);
  ExpectRoundTrip(FormatRuleset(r.ruleset));
}

TEST(PfLangRules, AfToPrinting) {
  std::string out = Print("pass in inet from 192.0.2.0/24 to 198.51.100.1 af-to inet6 from 2001:db8::1 to 2001:db8::2\n");
  EXPECT_EQ(out,
            "pass in inet from 192.0.2.0/24 to 198.51.100.1 flags S/SA af-to inet6 from 2001:db8::1 to 2001:db8::2\n");
  ExpectRoundTrip(out);
  ParseResult r = Parse("pass in inet6 af-to inet from 192.0.2.1\n");
  ASSERT_TRUE(r.ok());
  const Rule& rule = r.ruleset.rules.at(0);
  ASSERT_TRUE(rule.af_to);
  EXPECT_EQ(rule.af, Family::kV6);
  EXPECT_EQ(rule.af_to->af, Family::kV4);
  ASSERT_EQ(rule.af_to->from.addrs.size(), 1u);
  EXPECT_EQ(rule.af_to->from.addrs[0].prefix, *Prefix::Parse("192.0.2.1"));
  // pf.conf(5): af-to needs a different family and an inbound rule.
  EXPECT_FALSE(Parse("pass in inet af-to inet from 192.0.2.1\n").ok());
  EXPECT_FALSE(Parse("pass out inet af-to inet6 from 2001:db8::1\n").ok());
}

TEST(PfLangRules, IfBoundFloatingAndStateOptions) {
  ParseResult r = Parse("pass proto tcp keep state (if-bound, sloppy, pflow, max 100)\n"
                        "pass proto tcp keep state (floating)\n");
  ASSERT_TRUE(r.ok());
  const StateOptions& a = r.ruleset.rules.at(0).state;
  EXPECT_TRUE(a.if_bound);
  EXPECT_TRUE(a.sloppy);
  EXPECT_TRUE(a.pflow);
  EXPECT_EQ(a.max, 100u);
  EXPECT_TRUE(r.ruleset.rules.at(1).state.floating);
  std::string out = FormatRuleset(r.ruleset);
  EXPECT_EQ(out,
            "pass proto tcp all flags S/SA keep state (max 100, if-bound, sloppy, pflow, adaptive.start 60, "
            "adaptive.end 120)\n"
            "pass proto tcp all flags S/SA\n");
  EXPECT_FALSE(Parse("pass keep state (if-bound, floating)\n").ok());
}

TEST(PfLangRules, MaxPktRate) {
  std::string out = Print("pass in proto udp to port 53 max-pkt-rate 100/10\n");
  EXPECT_EQ(out, "pass in proto udp from any to any port = 53 max-pkt-rate 100/10\n");
  ExpectRoundTrip(out);
  ParseResult r = Parse(out);
  EXPECT_EQ(r.ruleset.rules.at(0).max_pkt_rate_packets, 100u);
  EXPECT_EQ(r.ruleset.rules.at(0).max_pkt_rate_seconds, 10u);
}

TEST(PfLangRules, UrpfFailed) {
  std::string out = Print("block in quick from urpf-failed label \"uRPF\"\n");
  EXPECT_EQ(out, "block drop in quick from urpf-failed to any label \"uRPF\"\n");
  ExpectRoundTrip(out);
  EXPECT_EQ(Parse(out).ruleset.rules.at(0).src.kind, AddrKind::kUrpfFailed);
}

TEST(PfLangAst, TypedValuesForTheEngine) {
  ParseResult r = Parse(
      "ext = \"lo0\"\n"
      "pass in log (all, to pflog2) quick on $ext inet proto tcp from 10.1.2.3/8 port 1024:2048 "
      "to ! 192.0.2.1 port { ssh, 80 } user root flags S/SAFR tos 0x10 keep state (max-src-conn 5, overload <bad> flush global)\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.ruleset.rules.size(), 2u);
  const Rule& a = r.ruleset.rules[0];
  EXPECT_EQ(a.action, Action::kPass);
  EXPECT_EQ(a.direction, Direction::kIn);
  EXPECT_TRUE(a.quick);
  EXPECT_TRUE(a.log.all);
  EXPECT_EQ(a.log.to_pflog, 2);
  EXPECT_EQ(a.interface.name, "lo0");
  EXPECT_EQ(a.af, Family::kV4);
  EXPECT_EQ(a.proto, 6);
  EXPECT_EQ(a.src.kind, AddrKind::kPrefix);
  EXPECT_EQ(a.src.prefix, *Prefix::Parse("10.0.0.0/8"));  // host bits masked
  EXPECT_EQ(a.src_port.op, RangeOp::kInclusive);
  EXPECT_EQ(a.src_port.low, 1024);
  EXPECT_EQ(a.src_port.high, 2048);
  EXPECT_TRUE(a.dst.negated);
  EXPECT_EQ(a.dst_port.low, 22);
  EXPECT_EQ(r.ruleset.rules[1].dst_port.low, 80);
  EXPECT_EQ(a.uid.op, RangeOp::kEq);
  EXPECT_EQ(a.uid.low, 0u);
  EXPECT_EQ(a.flags.set, 0x02);
  EXPECT_EQ(a.flags.mask, 0x17);
  EXPECT_EQ(a.tos, 0x10);
  EXPECT_EQ(a.state.max_src_conn, 5u);
  EXPECT_EQ(a.state.source_track, SourceTrack::kRule);
  EXPECT_EQ(a.state.overload_table, "bad");
  EXPECT_TRUE(a.state.overload_flush_global);
}

TEST(PfLangAst, TablesHostsAndFiles) {
  ParseResult r = Parse("table <t> persist counters { lo0:network, !192.0.2.9 } file \"hosts.txt\"\n");
  ASSERT_TRUE(r.ok()) << (r.messages.empty() ? "" : r.messages[0]);
  const Table& t = r.ruleset.tables.at(0);
  EXPECT_TRUE(t.persist);
  EXPECT_TRUE(t.counters);
  ASSERT_EQ(t.entries.size(), 6u);
  EXPECT_EQ(t.entries[0].prefix, *Prefix::Parse("::1"));
  EXPECT_EQ(t.entries[1].prefix, *Prefix::Parse("127.0.0.0/8"));
  EXPECT_TRUE(t.entries[2].negated);
  EXPECT_EQ(t.entries[4].prefix, *Prefix::Parse("198.51.100.0/24"));
  EXPECT_TRUE(t.entries[5].negated);
  EXPECT_EQ(FormatTable(t), "table <t> persist counters { ::1 127.0.0.0/8 !192.0.2.9 } file \"hosts.txt\"");
}

TEST(PfLangAst, TranslationPools) {
  ParseResult r = Parse("match out on lo0 inet nat-to { 192.0.2.1, 192.0.2.2 } source-hash 0x0123456789abcdef0123456789abcdef\n"
                        "pass in on lo0 proto tcp to 192.0.2.10 port 80 rdr-to 10.0.0.1 port 8080\n");
  ASSERT_TRUE(r.ok());
  const Rule& nat = r.ruleset.rules.at(0);
  ASSERT_EQ(nat.nat.addrs.size(), 1u);
  EXPECT_EQ(nat.nat.addrs[0].kind, AddrKind::kTable);
  EXPECT_EQ(nat.nat.type, PoolType::kSourceHash);
  EXPECT_EQ(nat.nat.key[0], 0x01);
  EXPECT_EQ(nat.nat.key[15], 0xef);
  ASSERT_EQ(r.ruleset.tables.size(), 1u);
  EXPECT_TRUE(r.ruleset.tables[0].automatic);
  EXPECT_EQ(r.ruleset.tables[0].entries.size(), 2u);
  const Rule& rdr = r.ruleset.rules.at(1);
  EXPECT_EQ(rdr.rdr.port_low, 8080);
  EXPECT_EQ(rdr.rdr.addrs.at(0).prefix, *Prefix::Parse("10.0.0.1"));
}

TEST(PfLangMacros, NestedAndCommandLine) {
  ParseOptions opts;
  opts.defines = {{"ext", "tun1000000"}};
  std::string out = Print(
      "ext = \"lo0\"\n"
      "p1 = \"22\"\n"
      "all_ports = \"{\" $p1 80 \"}\"\n"
      "pass in on $ext proto tcp to port $all_ports\n",
      opts);
  EXPECT_EQ(out,
            "ext = \"lo0\"\np1 = \"22\"\nall_ports = \"{ 22 80 }\"\n"
            "pass in on tun1000000 proto tcp from any to any port = 22 flags S/SA\n"
            "pass in on tun1000000 proto tcp from any to any port = 80 flags S/SA\n");
}

TEST(PfLangMacros, IncludeAndContinuation) {
  ParseResult r = Parse("include \"inc.conf\"\npass \\\n  in\n\nbogus here\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0], "stdin:5: syntax error");
  ASSERT_EQ(r.ruleset.rules.size(), 2u);
  EXPECT_EQ(FormatRule(r.ruleset.rules[0]), "pass out proto udp all");
  EXPECT_EQ(FormatRule(r.ruleset.rules[1]), "pass in all flags S/SA");
  ParseResult u = Parse("pass in on $nothere\n");
  ASSERT_EQ(u.messages.size(), 2u);
  EXPECT_EQ(u.messages[0], "stdin:1: macro 'nothere' not defined");
}

TEST(PfLangErrors, AllErrorsReportedAndRulesetRejected) {
  ParseOptions opts;
  opts.filename = "pf.conf";
  ParseResult r = Parse("pass in proto udp flags S\npass from 10.0.0.0.1\nblock frobnicate\npass\n", opts);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_count, 3);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0], "pf.conf:1: syntax error");
  EXPECT_EQ(r.messages[1], "no IP address found for 10.0.0.0.1");
  EXPECT_EQ(r.messages[2], "pf.conf:2: could not parse host specification");
  EXPECT_EQ(r.messages[3], "pf.conf:3: syntax error");
}

TEST(PfLangErrors, UnsupportedFeaturesAreRefusedClearly) {
  const char* cases[][2] = {
      {"queue q on lo0 bandwidth 1M\n", "stdin:1: queue definitions are not supported on hapf"},
      {"pass set queue q\n", "stdin:1: queueing (set queue) is not supported on hapf"},
      {"pass in proto tcp from any os \"OpenBSD\"\n", "stdin:1: os fingerprints is not supported on hapf"},
      {"pass in divert-to 127.0.0.1 port 80\n", "stdin:1: divert-to is not supported on hapf"},
      {"pass in rtable 2\n", "stdin:1: rtable is not supported on hapf"},
      {"pass from route \"x\"\n", "stdin:1: route labels are not supported on hapf"},
      {"pass on rdomain 1\n", "stdin:1: rdomain is not supported on hapf"},
  };
  for (const auto& [text, msg] : cases) {
    ParseResult r = Parse(text);
    EXPECT_FALSE(r.ok()) << text;
    ASSERT_FALSE(r.messages.empty()) << text;
    EXPECT_EQ(r.messages[0], msg);
    EXPECT_TRUE(r.ruleset.rules.empty());
  }
}

TEST(PfLangLimits, DeepNestingAndHugeExpansion) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "anchor {\n";
  for (int i = 0; i < 100; ++i) deep += "}\n";
  ParseResult r = Parse(deep);
  EXPECT_FALSE(r.ok());
  std::string list = "{";
  for (int i = 1; i <= 300; ++i) list += " 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
  list += " }";
  ParseOptions opts;
  opts.max_rules_per_statement = 10000;
  ParseResult big = Parse("pass from " + list + " to " + list + "\n", opts);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.messages.at(0), "stdin:1: rule expands to too many rules");
  EXPECT_TRUE(big.ruleset.rules.empty());
  // As in pfctl, '$' inside expanded text is not expanded again (so a
  // self-referencing macro cannot loop); a bare '$' is then a syntax error.
  ParseResult loop = Parse("a = \"$a $a\"\nb = $a\n");
  ASSERT_EQ(loop.messages.size(), 1u);
  EXPECT_EQ(loop.messages[0], "stdin:2: syntax error");
  // Definition-time expansion grows exponentially; it stops at the bound.
  ParseResult boom = Parse("a = x\nb = $a $a $a $a $a $a $a $a\nc = $b $b $b $b $b $b $b $b\n"
                           "d = $c $c $c $c $c $c $c $c\ne = $d $d $d $d $d $d $d $d\n"
                           "f = $e $e $e $e $e $e $e $e\ng = $f $f $f $f $f $f $f $f\n"
                           "h = $g $g $g $g $g $g $g $g\n");
  EXPECT_FALSE(boom.ok());
}

}  // namespace
}  // namespace hapf::pf
