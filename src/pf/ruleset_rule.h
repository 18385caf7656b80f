// The compiled rule form the engine evaluates. The pf.conf compiler fills these
// from the typed AST; tests build them directly. Lists in address and port
// positions are compiled (addresses into a longest-prefix table, ports into
// ranges), never re-parsed per packet.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "net/addr.h"
#include "pf/state_table.h"
#include "pf/state_timeouts.h"
#include "pf/table_lpm.h"

namespace hapf::pf::engine {

enum class Action : uint8_t { kPass = 0, kBlock = 1, kMatch = 2 };

struct AddrSpec {
  enum class Kind : uint8_t { kAny, kPrefix, kTable };
  Kind kind = Kind::kAny;
  bool negate = false;
  net::Prefix prefix;             // kPrefix
  std::shared_ptr<Table> table;   // kTable: a named table, or an anonymous one for a list

  static AddrSpec Any() { return {}; }
  static AddrSpec Of(const net::Prefix& p, bool neg = false) { return {Kind::kPrefix, neg, p.Normalized(), nullptr}; }
  static AddrSpec OfTable(std::shared_ptr<Table> t, bool neg = false) { return {Kind::kTable, neg, {}, std::move(t)}; }

  bool Matches(const net::IpAddr& a) const {
    bool m;
    switch (kind) {
      case Kind::kAny: return true;
      case Kind::kPrefix: m = prefix.Contains(a); break;
      default: m = table->Matches(a); break;
    }
    return m != negate;
  }
  friend bool operator==(const AddrSpec& a, const AddrSpec& b) {
    return a.kind == b.kind && a.negate == b.negate && a.prefix == b.prefix && a.table == b.table;
  }
};

// pf port operators: = != < <= > >= and the ranges a:b (inclusive), a><b
// (exclusive), a<>b (except).
struct PortRange {
  enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kInclusive, kExclusive, kExcept };
  Op op = Op::kEq;
  uint16_t lo = 0, hi = 0;

  bool Matches(uint16_t p) const {
    switch (op) {
      case Op::kEq: return p == lo;
      case Op::kNe: return p != lo;
      case Op::kLt: return p < lo;
      case Op::kLe: return p <= lo;
      case Op::kGt: return p > lo;
      case Op::kGe: return p >= lo;
      case Op::kInclusive: return p >= lo && p <= hi;
      case Op::kExclusive: return p > lo && p < hi;
      case Op::kExcept: return p < lo || p > hi;
    }
    return false;
  }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};
using PortList = std::vector<PortRange>;  // empty = any; otherwise any element matches

enum class PoolType : uint8_t { kNone, kRoundRobin, kRandom, kSourceHash, kBitmask, kLeastStates };

struct Pool {
  std::vector<net::Prefix> addrs;
  std::shared_ptr<Table> table;   // pool from a table (round-robin over its entries)
  PoolType type = PoolType::kNone;
  bool sticky = false;
  bool static_port = false;
  uint16_t port_lo = 0, port_hi = 0;  // nat: source port range; rdr: destination port (range)
  std::array<uint8_t, 16> hash_key{};  // source-hash key
  // Run-time cursor of round-robin.
  uint32_t rr_index = 0;
  net::IpAddr rr_addr;
  // Run-time: the table's normal entries, re-read only when the table changed
  // (so a new translated connection does not copy the table).
  std::vector<net::Prefix> table_addrs;
  uint64_t table_version = UINT64_MAX;
};

// kDefault follows `set block-policy`.
enum class BlockPolicy : uint8_t { kDefault, kDrop, kReturn, kReturnRst, kReturnIcmp };
enum class KeepState : uint8_t { kNone, kKeep, kModulate, kSynproxy };

struct Rule {
  Action action = Action::kPass;
  Direction dir = Direction::kInOut;
  bool quick = false;
  uint8_t log = 0;                 // pflog flags: 0x01 log, 0x02 all, 0x08 matches
  uint16_t ifgroup = 0;            // 0: any interface; else an interface group id
  bool if_negate = false;
  net::Family af = net::Family::kNone;
  uint8_t proto = 0;               // 0: any
  AddrSpec src, dst;
  PortList sport, dport;
  uint8_t flags = 0, flagset = 0;  // TCP: (flags & flagset) == flags
  int16_t icmp_type = -1, icmp_code = -1;  // -1: any
  KeepState keep_state = KeepState::kNone;
  bool if_bound = false;
  bool no_sync = false;
  bool allow_opts = false;
  BlockPolicy block_policy = BlockPolicy::kDefault;
  uint8_t return_icmp_code = 3;    // port unreachable
  uint8_t return_icmp6_code = 4;   // port unreachable
  // state limits and source tracking
  uint32_t max_states = 0;
  uint32_t max_src_nodes = 0, max_src_states = 0, max_src_conn = 0;
  uint32_t max_src_conn_rate = 0, max_src_conn_rate_seconds = 0;
  bool source_track = false;
  std::shared_ptr<Table> overload;
  bool overload_flush = false, overload_flush_global = false;
  Timeouts timeouts{};             // zeros: use the global table
  std::optional<Pool> nat;         // nat-to (rewrites the source)
  std::optional<Pool> rdr;         // rdr-to (rewrites the destination)
  std::string label;
  uint16_t tag = 0;                // tag NAME: the engine's tag id (Engine::TagId); 0 none
  uint16_t match_tag = 0;          // tagged NAME; 0 none
  bool match_tag_not = false;      // ! tagged NAME
  bool once = false;               // one-shot: expires on its first match
  uint16_t rcv_group = 0;          // received-on: interface group id; 0 none
  bool rcv_negate = false;         // received-on ! ifname
  uint8_t tos = 0;                 // tos N: the DSCP byte (ECN bits ignored, as pf_setup_pdesc); 0 any
  uint32_t probability = 0;        // probability N%: matches when a random 1..2^32-2 is below; 0 always
  int anchor = -1;                 // index of the anchored ruleset this rule evaluates
  std::string anchor_name;

  // Filled by the engine when the ruleset is loaded.
  uint32_t nr = 0;                 // pf rule number within its ruleset
  uint32_t ref = 0;                // index in the engine's flat rule array
  uint32_t anchor_nr = kNoRule;    // number of the anchor rule this rule lives under
  uint32_t generation = 0;         // LoadRuleset call that installed it
  std::array<uint32_t, 8> skip{};

  bool expired = false;            // a `once` rule that matched: skipped from then on

  // Counters (pfctl -vsr).
  uint64_t evaluations = 0;
  uint64_t packets[2]{}, bytes[2]{};  // [0] in, [1] out
  uint32_t states_cur = 0;
  uint64_t states_tot = 0;
  uint32_t src_nodes = 0;
};

// Convenience constructors for code-built rulesets (tests, the seed ruleset).
Rule PassRule();   // pass ... keep state flags S/SA (pf's defaults for pass)
Rule BlockRule();  // block ... (drop)

struct Ruleset {
  std::string name;
  std::vector<Rule> rules;

  // Built by the engine on load. Rules whose destination is one host are
  // listed under that host, all others in `generic`; large rulesets are
  // evaluated by merging the generic list with the packet destination's list
  // (same order, same answer as a full scan, far fewer rules visited).
  bool indexed = false;
  std::vector<uint32_t> generic;
  absl::flat_hash_map<std::array<uint8_t, 17>, std::vector<uint32_t>> by_dst;
};

}  // namespace hapf::pf::engine
