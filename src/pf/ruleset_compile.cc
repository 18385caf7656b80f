#include "pf/ruleset_compile.h"

#include <functional>

namespace hapf::pf::engine {

namespace ast = hapf::pf;

namespace {

Timeout TimeoutIndex(ast::TimeoutKind k) {
  switch (k) {
    case ast::TimeoutKind::kTcpFirst: return kTmTcpFirst;
    case ast::TimeoutKind::kTcpOpening: return kTmTcpOpening;
    case ast::TimeoutKind::kTcpEstablished: return kTmTcpEstablished;
    case ast::TimeoutKind::kTcpClosing: return kTmTcpClosing;
    case ast::TimeoutKind::kTcpFinWait: return kTmTcpFinWait;
    case ast::TimeoutKind::kTcpClosed: return kTmTcpClosed;
    case ast::TimeoutKind::kTcpTsDiff: return kTmTcpTsDiff;
    case ast::TimeoutKind::kUdpFirst: return kTmUdpFirst;
    case ast::TimeoutKind::kUdpSingle: return kTmUdpSingle;
    case ast::TimeoutKind::kUdpMultiple: return kTmUdpMultiple;
    case ast::TimeoutKind::kIcmpFirst: return kTmIcmpFirst;
    case ast::TimeoutKind::kIcmpError: return kTmIcmpError;
    case ast::TimeoutKind::kOtherFirst: return kTmOtherFirst;
    case ast::TimeoutKind::kOtherSingle: return kTmOtherSingle;
    case ast::TimeoutKind::kOtherMultiple: return kTmOtherMultiple;
    case ast::TimeoutKind::kFrag: return kTmFrag;
    case ast::TimeoutKind::kInterval: return kTmInterval;
    case ast::TimeoutKind::kAdaptiveStart: return kTmAdaptiveStart;
    case ast::TimeoutKind::kAdaptiveEnd: return kTmAdaptiveEnd;
    case ast::TimeoutKind::kSrcTrack: return kTmSrcTrack;
  }
  return kTmInterval;
}

PortList Ports(const ast::PortRange& r) {
  using Op = PortRange::Op;
  switch (r.op) {
    case ast::RangeOp::kNone: return {};
    case ast::RangeOp::kEq: return {{Op::kEq, r.low, 0}};
    case ast::RangeOp::kNe: return {{Op::kNe, r.low, 0}};
    case ast::RangeOp::kLt: return {{Op::kLt, r.low, 0}};
    case ast::RangeOp::kLe: return {{Op::kLe, r.low, 0}};
    case ast::RangeOp::kGt: return {{Op::kGt, r.low, 0}};
    case ast::RangeOp::kGe: return {{Op::kGe, r.low, 0}};
    case ast::RangeOp::kInclusive: return {{Op::kInclusive, r.low, r.high}};
    case ast::RangeOp::kExcept: return {{Op::kExclusive, r.low, r.high}};   // a >< b
    case ast::RangeOp::kOutside: return {{Op::kExcept, r.low, r.high}};     // a <> b
  }
  return {};
}

PoolType MapPoolType(ast::PoolType t) {
  switch (t) {
    case ast::PoolType::kNone: return PoolType::kNone;
    case ast::PoolType::kBitmask: return PoolType::kBitmask;
    case ast::PoolType::kRandom: return PoolType::kRandom;
    case ast::PoolType::kSourceHash: return PoolType::kSourceHash;
    case ast::PoolType::kRoundRobin: return PoolType::kRoundRobin;
    case ast::PoolType::kLeastStates: return PoolType::kLeastStates;
  }
  return PoolType::kNone;
}

struct Compiler {
  Engine& e;
  CompileResult& out;
  std::vector<Ruleset> anchors;
  int anon_tables = 0;

  void Warn(int line, const std::string& what) {
    out.warnings.push_back("line " + std::to_string(line) + ": " + what + " is not enforced by hapf");
  }

  // Dynamic interface addresses live in a table the daemon keeps current.
  std::shared_ptr<Table> DynamicTable(const ast::Address& a) {
    return e.GetTable("__if_" + a.name);
  }

  // Returns false when the address can never be matched by hapf.
  bool Addr(const ast::Address& a, AddrSpec& spec, int line) {
    switch (a.kind) {
      case ast::AddrKind::kAny:
        // "! any" never matches: an empty table.
        spec = a.negated ? AddrSpec::OfTable(std::make_shared<Table>()) : AddrSpec::Any();
        return true;
      case ast::AddrKind::kPrefix:
        spec = AddrSpec::Of(a.prefix, a.negated);
        return true;
      case ast::AddrKind::kRange: {
        auto t = std::make_shared<Table>("__range_" + std::to_string(anon_tables++));
        for (const net::Prefix& p : RangeToPrefixes(a.prefix.addr, a.range_end)) t->Add(p);
        spec = AddrSpec::OfTable(t, a.negated);
        return true;
      }
      case ast::AddrKind::kTable:
        spec = AddrSpec::OfTable(e.GetTable(a.name), a.negated);
        return true;
      case ast::AddrKind::kDynamic:
        spec = AddrSpec::OfTable(DynamicTable(a), a.negated);
        return true;
      case ast::AddrKind::kNoRoute:
      case ast::AddrKind::kUrpfFailed:
        Warn(line, a.kind == ast::AddrKind::kNoRoute ? "no-route" : "urpf-failed");
        return false;
    }
    return false;
  }

  bool MakePool(const ast::Pool& src, Pool& pool, int line) {
    for (const ast::Address& a : src.addrs) {
      switch (a.kind) {
        case ast::AddrKind::kPrefix: pool.addrs.push_back(a.prefix); break;
        case ast::AddrKind::kRange:
          for (const net::Prefix& p : RangeToPrefixes(a.prefix.addr, a.range_end)) pool.addrs.push_back(p);
          break;
        case ast::AddrKind::kTable: pool.table = e.GetTable(a.name); break;
        case ast::AddrKind::kDynamic: pool.table = DynamicTable(a); break;
        default: Warn(line, "this pool address"); return false;
      }
    }
    pool.type = MapPoolType(src.type);
    pool.sticky = src.sticky_address;
    pool.static_port = src.static_port;
    pool.port_lo = src.port_low;
    pool.port_hi = src.port_high ? src.port_high : src.port_low;
    if (src.has_key) pool.hash_key = src.key;
    return true;
  }

  // Compiles one AST rule; may append a second (the inbound half of binat-to).
  void CompileRule(const ast::Rule& a, std::vector<Rule>& rules) {
    Rule r;
    bool supported = true;  // false: an unsupported condition; fail closed
    switch (a.action) {
      case ast::Action::kPass: r.action = Action::kPass; break;
      case ast::Action::kBlock: r.action = Action::kBlock; break;
      case ast::Action::kMatch: r.action = Action::kMatch; break;
      case ast::Action::kAnchor: r.action = Action::kMatch; break;
    }
    r.dir = a.direction == ast::Direction::kIn    ? Direction::kIn
            : a.direction == ast::Direction::kOut ? Direction::kOut
                                                  : Direction::kInOut;
    r.quick = a.quick;
    r.log = static_cast<uint8_t>((a.log.enabled ? 0x01 : 0) | (a.log.all ? 0x02 : 0) | (a.log.user ? 0x04 : 0) |
                                 (a.log.matches ? 0x10 : 0));
    if (!a.interface.name.empty()) {
      r.ifgroup = e.GroupId(a.interface.name);
      r.if_negate = a.interface.negated;
    }
    r.af = a.af;
    r.proto = a.proto.value_or(0);
    supported &= Addr(a.src, r.src, a.line);
    supported &= Addr(a.dst, r.dst, a.line);
    r.sport = Ports(a.src_port);
    r.dport = Ports(a.dst_port);
    if (a.flags.given && !a.flags.any) {
      r.flags = a.flags.set;
      r.flagset = a.flags.mask;
    }
    if (a.icmp.type) r.icmp_type = *a.icmp.type;
    if (a.icmp.code) r.icmp_code = *a.icmp.code;
    r.allow_opts = a.allow_opts;
    switch (a.block) {
      case ast::BlockPolicy::kDefault: r.block_policy = BlockPolicy::kDefault; break;
      case ast::BlockPolicy::kDrop: r.block_policy = BlockPolicy::kDrop; break;
      case ast::BlockPolicy::kReturn: r.block_policy = BlockPolicy::kReturn; break;
      case ast::BlockPolicy::kReturnRst: r.block_policy = BlockPolicy::kReturnRst; break;
      case ast::BlockPolicy::kReturnIcmp: r.block_policy = BlockPolicy::kReturnIcmp; break;
    }
    if (a.return_icmp) r.return_icmp_code = *a.return_icmp;
    if (a.return_icmp6) r.return_icmp6_code = *a.return_icmp6;
    r.label = a.label;
    r.once = a.once;
    r.probability = a.probability;
    if (a.received_on) {
      r.rcv_group = e.GroupId(*a.received_on);
      r.rcv_negate = a.received_on_negated;
    }
    if (a.tos) {
      r.tos = *a.tos;
      // pf compares against the packet's DSCP with the ECN bits cleared: a
      // rule with ECN bits can never match (tos 0 is no condition, as in pf).
      if (r.tos & 0x03) r.src = AddrSpec::OfTable(std::make_shared<Table>(), false);
    }
    if (!a.tag.empty()) r.tag = e.TagId(a.tag);
    if (!a.tagged.empty()) {
      r.match_tag = e.TagId(a.tagged);
      r.match_tag_not = a.tagged_negated;
    }
    if ((!a.tag.empty() && r.tag == 0) || (!a.tagged.empty() && r.match_tag == 0)) {
      out.warnings.push_back("line " + std::to_string(a.line) + ": too many tag names");
      supported = false;
    }

    // State options (meaningful on pass rules).
    const ast::StateOptions& so = a.state;
    if (r.action == Action::kPass) {
      switch (so.kind) {
        case ast::StateKind::kNone: r.keep_state = KeepState::kNone; break;
        case ast::StateKind::kKeep: r.keep_state = KeepState::kKeep; break;
        case ast::StateKind::kModulate: r.keep_state = KeepState::kModulate; break;
        case ast::StateKind::kSynproxy: r.keep_state = KeepState::kSynproxy; break;
      }
    }
    r.max_states = so.max.value_or(0);
    r.no_sync = so.no_sync;
    r.source_track = so.source_track != ast::SourceTrack::kNone;
    r.max_src_states = so.max_src_states.value_or(0);
    r.max_src_nodes = so.max_src_nodes.value_or(0);
    r.max_src_conn = so.max_src_conn.value_or(0);
    if (so.max_src_conn_rate) {
      r.max_src_conn_rate = so.max_src_conn_rate->first;
      r.max_src_conn_rate_seconds = so.max_src_conn_rate->second;
    }
    if (!so.overload_table.empty()) r.overload = e.GetTable(so.overload_table);
    r.overload_flush = so.overload_flush;
    r.overload_flush_global = so.overload_flush_global;
    r.if_bound = so.if_bound;
    for (const ast::Timeout& t : so.timeouts) r.timeouts.v[TimeoutIndex(t.kind)] = t.seconds;
    if (so.sloppy) Warn(a.line, "sloppy state");

    // Conditions hapf cannot evaluate yet.
    auto unsupported = [&](bool used, const char* what) {
      if (!used) return;
      Warn(a.line, what);
      supported = false;
    };
    unsupported(a.uid.op != ast::RangeOp::kNone, "user");
    unsupported(a.gid.op != ast::RangeOp::kNone, "group");
    unsupported(a.prio.has_value(), "prio");
    unsupported(a.fragment, "fragment");
    unsupported(a.max_pkt_rate_packets.has_value(), "max-pkt-rate");
    if (a.route_kind != ast::RouteKind::kNone) Warn(a.line, "route-to/reply-to/dup-to");
    if (a.af_to) Warn(a.line, "af-to");
    if (a.scrub.given) Warn(a.line, "scrub options");
    if (a.set_prio.given || a.set_tos) Warn(a.line, "set prio/set tos");

    if (!a.nat.empty()) {
      Pool p;
      if (MakePool(a.nat, p, a.line)) r.nat = p;
    }
    if (!a.rdr.empty() && !a.binat) {
      Pool p;
      if (MakePool(a.rdr, p, a.line)) r.rdr = p;
    }

    if (a.action == ast::Action::kAnchor) {
      Ruleset body;
      body.name = a.anchor_name;
      if (a.anchor_body) {
        for (const ast::Rule& ar : a.anchor_body->rules) CompileRule(ar, body.rules);
      } else if (!a.anchor_name.empty()) {
        Warn(a.line, "anchor \"" + a.anchor_name + "\" without an inline body (empty)");
      }
      if (a.anchor_wildcard) Warn(a.line, "wildcard anchors");
      r.anchor = static_cast<int>(anchors.size());
      r.anchor_name = a.anchor_name;
      anchors.push_back(std::move(body));
    }

    if (!supported) {
      if (r.action == Action::kPass || r.action == Action::kMatch || r.anchor >= 0) {
        // fail closed: a rule that would allow more than written never matches
        r.src = AddrSpec::OfTable(std::make_shared<Table>(), false);
      }
    }
    const bool binat = a.binat && r.nat && !a.rdr.empty();
    rules.push_back(r);
    if (binat) {
      // binat-to: the reverse direction redirects the translated address back.
      Rule rev = r;
      rev.dir = r.dir == Direction::kIn ? Direction::kOut : Direction::kIn;
      rev.nat.reset();
      rev.src = r.dst;
      rev.dst = AddrSpec::Any();
      if (!r.nat->addrs.empty()) rev.dst = AddrSpec::Of(r.nat->addrs.front());
      rev.sport = r.dport;
      rev.dport = r.sport;
      Pool p;
      if (MakePool(a.rdr, p, a.line)) {
        p.type = PoolType::kBitmask;
        rev.rdr = p;
      }
      rev.label.clear();
      rules.push_back(rev);
    }
  }
};

}  // namespace

std::vector<net::Prefix> RangeToPrefixes(const net::IpAddr& first, const net::IpAddr& last) {
  std::vector<net::Prefix> out;
  if (first.family() != last.family() || last < first) return out;
  net::IpAddr cur = first;
  const int max = first.max_prefix();
  for (int guard = 0; guard < 1024; ++guard) {
    // The shortest prefix starting at cur that stays within last.
    int len = max;
    while (len > 0) {
      const int shorter = len - 1;
      if (cur.Masked(shorter) != cur) break;
      if (cur.LastInPrefix(shorter) > last) break;
      len = shorter;
    }
    out.push_back(net::Prefix{cur, static_cast<uint8_t>(len)});
    const net::IpAddr end = cur.LastInPrefix(len);
    if (end == last) break;
    cur = end.Next();
  }
  return out;
}

CompileResult CompileAndLoad(const hapf::pf::Ruleset& src, Engine& e) {
  CompileResult result;
  EngineOptions& o = e.options();
  for (const ast::Option& opt : src.options) {
    switch (opt.kind) {
      case ast::OptionKind::kTimeout: o.timeouts.v[TimeoutIndex(opt.timeout)] = opt.value; break;
      case ast::OptionKind::kLimit:
        switch (opt.limit) {
          case ast::LimitKind::kStates: o.limits.states = opt.value; break;
          case ast::LimitKind::kSrcNodes: o.limits.src_nodes = opt.value; break;
          case ast::LimitKind::kFrags: o.limits.frags = opt.value; break;
          case ast::LimitKind::kTables: o.limits.tables = opt.value; break;
          case ast::LimitKind::kTableEntries: o.limits.table_entries = opt.value; break;
          default: break;
        }
        break;
      case ast::OptionKind::kHostid: o.hostid = opt.value; break;
      case ast::OptionKind::kBlockPolicy:
        o.block_policy = opt.flag ? BlockPolicy::kReturn : BlockPolicy::kDrop;
        break;
      case ast::OptionKind::kStatePolicy: o.if_bound_default = !opt.flag; break;
      case ast::OptionKind::kSkip: e.SetSkip(e.AddInterface(opt.text), true); break;
      default: break;
    }
  }
  for (const ast::Table& t : src.tables) {
    auto table = e.GetTable(t.name);
    table->Clear();
    for (const ast::TableEntry& te : t.entries) table->Add(te.prefix, te.negated);
  }
  // pfctl_load_options: a states limit without explicit adaptive timeouts moves
  // them to 60 % and 120 % of the limit (else a large limit would sit above
  // the fixed 60 000 / 120 000 and new states would expire at once).
  bool limit_states = false, adaptive = false;
  for (const ast::Option& opt : src.options) {
    limit_states |= opt.kind == ast::OptionKind::kLimit && opt.limit == ast::LimitKind::kStates;
    adaptive |= opt.kind == ast::OptionKind::kTimeout &&
                (opt.timeout == ast::TimeoutKind::kAdaptiveStart || opt.timeout == ast::TimeoutKind::kAdaptiveEnd);
  }
  if (limit_states && !adaptive) {
    o.timeouts.v[kTmAdaptiveStart] = o.limits.states / 10 * 6;
    o.timeouts.v[kTmAdaptiveEnd] = o.limits.states / 10 * 12;
  }
  Compiler c{e, result, {}, 0};
  Ruleset main;
  for (const ast::Rule& r : src.rules) c.CompileRule(r, main.rules);
  result.rules = main.rules.size();
  result.anchors = c.anchors.size();
  e.LoadRuleset(std::move(main), std::move(c.anchors));
  return result;
}

}  // namespace hapf::pf::engine
