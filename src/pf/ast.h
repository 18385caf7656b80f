// The typed syntax tree of a parsed pf.conf: what the parser produces, the
// printer prints and the filter engine compiles. Every value is already
// resolved (names to numbers, macros and lists expanded, host names and
// static interface names turned into addresses), so nothing downstream ever
// parses a string again.
//
// Rules are stored fully expanded, exactly as pfctl expands them at parse
// time: `pass from { a, b } to { c, d }` is four Rule values.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.h"

namespace hapf::pf {

using net::Family;
using net::IpAddr;
using net::Prefix;

// ---------------------------------------------------------------- addresses

// Modifiers after an interface name: `lo0:network`, `(em0:peer)`, `em0:0`.
enum class IfaceModifier : uint8_t { kNone, kNetwork, kBroadcast, kPeer, kNoAlias };

enum class AddrKind : uint8_t {
  kAny,         // any
  kPrefix,      // 10.0.0.0/8, a host, or an interface/host name expanded at parse time
  kRange,       // 10.0.0.1 - 10.0.0.9 (both ends inclusive)
  kTable,       // <name>
  kDynamic,     // (ifname[:mod])[/len]: the interface's addresses, followed at run time
  kNoRoute,     // no-route
  kUrpfFailed,  // urpf-failed
};
// `self` is expanded to the machine's addresses at parse time; `(self)` is
// kDynamic with name "self".

struct Address {
  AddrKind kind = AddrKind::kAny;
  bool negated = false;
  Prefix prefix;        // kPrefix; kRange: prefix.addr is the first address
  IpAddr range_end;     // kRange: the last address
  std::string name;     // kTable: table name; kDynamic: interface or group name
  IfaceModifier modifier = IfaceModifier::kNone;  // kDynamic
  // kDynamic: optional mask after the parentheses, `(lo0)/24`; -1 when absent.
  int dynamic_mask = -1;
  // The address family this address restricts to (kNone for any/table/dynamic
  // without a family of its own).
  Family family() const {
    return kind == AddrKind::kPrefix || kind == AddrKind::kRange ? prefix.addr.family()
                                                                : Family::kNone;
  }
};

// ---------------------------------------------------------------- ports, ids

// Unary and binary operators of `port`, `user`, `group`.
enum class RangeOp : uint8_t {
  kNone,       // not given
  kEq,         // = n  (also a bare number or name)
  kNe,         // != n
  kLt,         // < n
  kLe,         // <= n
  kGt,         // > n
  kGe,         // >= n
  kInclusive,  // a:b   a <= x <= b
  kExcept,     // a >< b  a < x < b
  kOutside,    // a <> b  x < a || x > b
};

struct PortRange {
  RangeOp op = RangeOp::kNone;
  uint16_t low = 0;
  uint16_t high = 0;  // for binary operators
};

// user/group: ids are uint32; the special id "unknown" is kUnknownId.
struct IdRange {
  static constexpr uint32_t kUnknownId = 0xffffffffu;
  RangeOp op = RangeOp::kNone;
  uint32_t low = 0;
  uint32_t high = 0;
};

// ---------------------------------------------------------------- options

enum class Action : uint8_t { kPass, kBlock, kMatch, kAnchor };
enum class Direction : uint8_t { kBoth, kIn, kOut };

// How a `block` rule answers.
enum class BlockPolicy : uint8_t {
  kDefault,     // `block` without a return option: follows `set block-policy`
  kDrop,        // block drop
  kReturn,      // block return (RST for TCP, ICMP unreachable otherwise)
  kReturnRst,   // block return-rst [(ttl n)]
  kReturnIcmp,  // block return-icmp[(code[, code6])] / return-icmp6
};

struct LogOptions {
  bool enabled = false;
  bool all = false;      // log (all): every packet of the state
  bool user = false;     // log (user): the socket's uid/pid
  bool matches = false;  // log (matches)
  int to_pflog = -1;     // log (to pflogN): N, or -1 for the default pflog0
};

struct InterfaceSpec {
  std::string name;  // empty: any interface; otherwise an interface or group name
  bool negated = false;
};

struct TcpFlags {
  bool given = false;  // flags were written (or defaulted to S/SA)
  bool any = false;    // flags any
  uint8_t set = 0;     // bits that must be set (FIN=0x01 SYN=0x02 RST=0x04 PUSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80)
  uint8_t mask = 0;    // bits examined
};

struct IcmpSpec {
  bool v6 = false;                // icmp6-type
  std::optional<uint8_t> type;    // icmp-type n
  std::optional<uint8_t> code;    // code n
};

enum class StateKind : uint8_t { kNone /* no state */, kKeep, kModulate, kSynproxy };

enum class SourceTrack : uint8_t { kNone, kRule, kGlobal };

// Named per-state timeouts (also used by `set timeout`), in pfctl's printing order.
enum class TimeoutKind : uint8_t {
  kTcpFirst, kTcpOpening, kTcpEstablished, kTcpClosing, kTcpFinWait, kTcpClosed, kTcpTsDiff,
  kUdpFirst, kUdpSingle, kUdpMultiple,
  kIcmpFirst, kIcmpError,
  kOtherFirst, kOtherSingle, kOtherMultiple,
  kFrag, kInterval, kAdaptiveStart, kAdaptiveEnd, kSrcTrack,
};

struct Timeout {
  TimeoutKind kind;
  uint32_t seconds;
};

struct StateOptions {
  StateKind kind = StateKind::kKeep;
  bool explicit_keep = false;  // `keep state` was written (pfctl prints it only with options)
  std::optional<uint32_t> max;
  bool no_sync = false;
  SourceTrack source_track = SourceTrack::kNone;
  std::optional<uint32_t> max_src_states;
  std::optional<uint32_t> max_src_nodes;
  std::optional<uint32_t> max_src_conn;
  std::optional<std::pair<uint32_t, uint32_t>> max_src_conn_rate;  // conns / seconds
  std::string overload_table;     // empty: none
  bool overload_flush = false;
  bool overload_flush_global = false;
  bool if_bound = false;
  bool floating = false;
  bool sloppy = false;
  bool pflow = false;
  std::vector<Timeout> timeouts;  // per-rule timeouts (printed in TimeoutKind order)
};

struct ScrubOptions {
  bool given = false;  // scrub (...) present
  bool no_df = false;
  bool random_id = false;
  bool reassemble_tcp = false;
  std::optional<uint8_t> min_ttl;
  std::optional<uint16_t> max_mss;
};

// Address-pool selection for nat-to / rdr-to / route-to.
enum class PoolType : uint8_t { kNone, kBitmask, kRandom, kSourceHash, kRoundRobin, kLeastStates };

struct Pool {
  // One address, prefix, range, table (lists become automatic tables) or
  // dynamic interface. route-to may also name an outgoing interface.
  std::vector<Address> addrs;
  std::string ifname;        // route-to (ifname addr) / route-to ifname form
  uint16_t port_low = 0;     // nat-to/rdr-to port a[:b]; 0: none
  uint16_t port_high = 0;    // equal to port_low for a single port
  PoolType type = PoolType::kNone;
  bool has_key = false;      // source-hash key
  std::array<uint8_t, 16> key{};
  bool sticky_address = false;
  bool static_port = false;
  bool empty() const { return addrs.empty() && ifname.empty(); }
};

enum class RouteKind : uint8_t { kNone, kRouteTo, kReplyTo, kDupTo };

struct AfTo {
  Family af = Family::kNone;  // target family
  Pool from;                  // af-to inet6 from <addr>
  Pool to;                    // optional: to <addr>
};

struct SetPrio {
  bool given = false;
  uint8_t prio = 0;
  std::optional<uint8_t> prio2;  // set prio (a, b): second one for empty-payload/lowdelay packets
};

// ---------------------------------------------------------------- rules

struct Ruleset;

struct Rule {
  int line = 0;   // source line (errors, labels' $nr)
  int number = 0; // rule number after expansion within its ruleset (label $nr)

  Action action = Action::kPass;
  BlockPolicy block = BlockPolicy::kDefault;
  uint8_t return_ttl = 0;              // return-rst(ttl n); 0: default
  std::optional<uint8_t> return_icmp;  // return-icmp(code)
  std::optional<uint8_t> return_icmp6; // return-icmp6(code) or second code of return-icmp(a, b)

  Direction direction = Direction::kBoth;
  LogOptions log;
  bool quick = false;
  InterfaceSpec interface;
  Family af = Family::kNone;
  std::optional<uint8_t> proto;  // IP protocol number

  Address src;
  PortRange src_port;
  Address dst;
  PortRange dst_port;

  IdRange uid;
  IdRange gid;
  TcpFlags flags;
  IcmpSpec icmp;
  std::optional<uint8_t> tos;
  bool fragment = false;
  bool allow_opts = false;

  StateOptions state;
  std::string label;   // macros ($if, $srcaddr, $nr, ...) already expanded
  std::string tag;
  std::string tagged;
  bool tagged_negated = false;
  std::optional<uint8_t> prio;   // match on packet priority
  SetPrio set_prio;
  std::optional<uint8_t> set_tos;
  bool once = false;
  uint32_t probability = 0;      // 0: always; else matches with probability/UINT32_MAX
  std::optional<std::string> received_on;
  bool received_on_negated = false;
  std::optional<uint32_t> max_pkt_rate_packets;
  uint32_t max_pkt_rate_seconds = 0;
  ScrubOptions scrub;

  Pool nat;       // nat-to (and the outbound half of binat-to)
  Pool rdr;       // rdr-to (and the inbound half of binat-to)
  bool binat = false;
  std::optional<AfTo> af_to;
  RouteKind route_kind = RouteKind::kNone;
  Pool route;

  // anchor rules (action kAnchor)
  std::string anchor_name;   // "" for an anonymous inline anchor
  bool anchor_wildcard = false;  // "name/*"
  std::shared_ptr<Ruleset> anchor_body;  // inline { ... } body, or null
};

// ---------------------------------------------------------------- tables, options

struct TableEntry {
  Prefix prefix;        // host bits masked off
  bool negated = false;
};

// One `{ ... }` block or `file "..."` of a table definition, as written (for printing).
struct TableSource {
  bool is_file = false;
  std::string file;                 // is_file
  std::vector<TableEntry> entries;  // !is_file: the block's entries, hosts expanded
};

struct Table {
  std::string name;
  bool persist = false;
  bool is_const = false;
  bool counters = false;
  // Every entry the table starts with: inline blocks and file contents, in order.
  std::vector<TableEntry> entries;
  std::vector<TableSource> sources;     // as written
  bool automatic = false;               // __automatic_N made from a list in a rule
  int line = 0;
};

enum class OptionKind : uint8_t {
  kTimeout,         // set timeout <kind> n
  kLimit,           // set limit <what> n
  kOptimization,    // set optimization normal|high-latency|satellite|aggressive|conservative
  kLoginterface,    // set loginterface ifname|none
  kHostid,          // set hostid n
  kBlockPolicy,     // set block-policy drop|return
  kStatePolicy,     // set state-policy if-bound|floating
  kReassemble,      // set reassemble yes|no [no-df]
  kSkip,            // set skip on ifname
  kDebug,           // set debug level
  kSyncookies,      // set syncookies never|always|adaptive (start x%, end y%)
  kRulesetOptimization,  // set ruleset-optimization none|basic|profile
  kFingerprints,    // set fingerprints "file": accepted, ignored on hapf
  kStateDefaults,   // set state-defaults ...: state options for every rule
};

enum class LimitKind : uint8_t { kStates, kFrags, kSrcNodes, kTables, kTableEntries, kPktdelayPkts, kAnchors };

struct Option {
  OptionKind kind;
  int line = 0;
  TimeoutKind timeout = TimeoutKind::kInterval;  // kTimeout
  LimitKind limit = LimitKind::kStates;          // kLimit
  uint32_t value = 0;         // timeout seconds, limit, hostid, debug level
  bool flag = false;          // block-policy return / reassemble yes / state-policy floating
  bool no_df = false;         // reassemble ... no-df
  std::string text;           // optimization name, loginterface name, debug level, syncookies mode, fingerprints file
  std::vector<std::string> interfaces;            // set skip on { ... }
  bool watermarks = false;                        // syncookies adaptive (start S%, end E%) given
  uint32_t adaptive_start = 0, adaptive_end = 0;  // syncookies watermarks, percent of the state limit
  StateOptions state_defaults;                    // kStateDefaults
};

struct Macro {
  std::string name;
  std::string value;
};

// What appears in the -v printout before the rules, in parse order.
enum class PreambleKind : uint8_t { kMacro, kOption, kTable };
struct PreambleItem {
  PreambleKind kind;
  size_t index;  // into macros / options / tables
};

struct Ruleset {
  std::vector<Macro> macros;
  std::vector<Option> options;
  std::vector<Table> tables;
  std::vector<PreambleItem> preamble;
  std::vector<Rule> rules;
  // load anchor "name" from "file"
  struct LoadAnchor {
    std::string anchor;
    std::string file;
  };
  std::vector<LoadAnchor> load_anchors;
};

}  // namespace hapf::pf
