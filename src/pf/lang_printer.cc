#include "pf/lang_printer.h"

#include <algorithm>
#include <cstdio>

#include "pf/lang_names.h"

namespace hapf::pf {
namespace {

constexpr const char* kTcpFlagLetters = "FSRPAUEW";

std::string FlagLetters(uint8_t f) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    if (f & (1u << i)) s.push_back(kTcpFlagLetters[i]);
  return s;
}

int MaxBits(Family af) { return af == Family::kV4 ? 32 : 128; }

std::string OpText(RangeOp op, const std::string& a1, const std::string& a2) {
  switch (op) {
    case RangeOp::kExcept: return " " + a1 + " >< " + a2;
    case RangeOp::kOutside: return " " + a1 + " <> " + a2;
    case RangeOp::kEq: return " = " + a1;
    case RangeOp::kNe: return " != " + a1;
    case RangeOp::kLt: return " < " + a1;
    case RangeOp::kLe: return " <= " + a1;
    case RangeOp::kGt: return " > " + a1;
    case RangeOp::kGe: return " >= " + a1;
    case RangeOp::kInclusive: return " " + a1 + ":" + a2;
    case RangeOp::kNone: break;
  }
  return {};
}

std::string IdText(const IdRange& id, const char* what) {
  std::string a1 = id.low == IdRange::kUnknownId && (id.op == RangeOp::kEq || id.op == RangeOp::kNe)
                       ? "unknown"
                       : std::to_string(id.low);
  return std::string(" ") + what + OpText(id.op, a1, std::to_string(id.high));
}

const char* TimeoutName(TimeoutKind k) {
  switch (k) {
    case TimeoutKind::kTcpFirst: return "tcp.first";
    case TimeoutKind::kTcpOpening: return "tcp.opening";
    case TimeoutKind::kTcpEstablished: return "tcp.established";
    case TimeoutKind::kTcpClosing: return "tcp.closing";
    case TimeoutKind::kTcpFinWait: return "tcp.finwait";
    case TimeoutKind::kTcpClosed: return "tcp.closed";
    case TimeoutKind::kTcpTsDiff: return "tcp.tsdiff";
    case TimeoutKind::kUdpFirst: return "udp.first";
    case TimeoutKind::kUdpSingle: return "udp.single";
    case TimeoutKind::kUdpMultiple: return "udp.multiple";
    case TimeoutKind::kIcmpFirst: return "icmp.first";
    case TimeoutKind::kIcmpError: return "icmp.error";
    case TimeoutKind::kOtherFirst: return "other.first";
    case TimeoutKind::kOtherSingle: return "other.single";
    case TimeoutKind::kOtherMultiple: return "other.multiple";
    case TimeoutKind::kFrag: return "frag";
    case TimeoutKind::kInterval: return "interval";
    case TimeoutKind::kAdaptiveStart: return "adaptive.start";
    case TimeoutKind::kAdaptiveEnd: return "adaptive.end";
    case TimeoutKind::kSrcTrack: return "src.track";
  }
  return "inv.timeout";
}

const char* LimitName(LimitKind k) {
  switch (k) {
    case LimitKind::kStates: return "states";
    case LimitKind::kFrags: return "frags";
    case LimitKind::kSrcNodes: return "src-nodes";
    case LimitKind::kTables: return "tables";
    case LimitKind::kTableEntries: return "table-entries";
    case LimitKind::kPktdelayPkts: return "pktdelay_pkts";
    case LimitKind::kAnchors: return "anchors";
  }
  return "?";
}

enum class PoolRole { kNat, kRdr, kRoute };

std::string PoolText(const Pool& p, Family af, PoolRole role) {
  std::string s;
  if (!p.ifname.empty()) {
    if (!p.addrs.empty() && p.addrs[0].kind != AddrKind::kAny)
      s += FormatAddress(p.addrs[0], af) + "@";
    s += p.ifname;
  } else if (!p.addrs.empty()) {
    s += FormatAddress(p.addrs[0], af);
  }
  if (role == PoolRole::kNat && !p.static_port && p.port_low) {
    if (p.port_low == p.port_high)
      s += " port " + std::to_string(p.port_low);
    else
      s += " port " + std::to_string(p.port_low) + ":" + std::to_string(p.port_high);
  } else if (role == PoolRole::kRdr && p.port_low) {
    s += " port " + std::to_string(p.port_low);
    if (p.port_high && p.port_high != p.port_low) s += ":" + std::to_string(p.port_high);
  }
  switch (p.type) {
    case PoolType::kNone: break;
    case PoolType::kBitmask: s += " bitmask"; break;
    case PoolType::kRandom: s += " random"; break;
    case PoolType::kSourceHash: {
      s += " source-hash 0x";
      char buf[3];
      for (uint8_t b : p.key) {
        std::snprintf(buf, sizeof buf, "%02x", b);
        s += buf;
      }
      break;
    }
    case PoolType::kRoundRobin: s += " round-robin"; break;
    case PoolType::kLeastStates: s += " least-states"; break;
  }
  if (p.sticky_address) s += " sticky-address";
  if (role == PoolRole::kNat && p.static_port) s += " static-port";
  return s;
}

std::string ProtoText(uint8_t p) {
  std::string_view name = ProtocolName(p);
  return name.empty() ? std::to_string(p) : std::string(name);
}

std::string Hex2(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%2.2x", v);
  return buf;
}

}  // namespace

std::string FormatAddress(const Address& a, Family af) {
  std::string s;
  switch (a.kind) {
    case AddrKind::kAny:
      return "any";
    case AddrKind::kNoRoute:
      return "no-route";
    case AddrKind::kUrpfFailed:
      return "urpf-failed";
    case AddrKind::kTable:
      return "<" + a.name + ">";
    case AddrKind::kRange:
      return a.prefix.addr.ToString() + " - " + a.range_end.ToString();
    case AddrKind::kDynamic: {
      s = "(" + a.name;
      switch (a.modifier) {
        case IfaceModifier::kNetwork: s += ":network"; break;
        case IfaceModifier::kBroadcast: s += ":broadcast"; break;
        case IfaceModifier::kPeer: s += ":peer"; break;
        case IfaceModifier::kNoAlias: s += ":0"; break;
        case IfaceModifier::kNone: break;
      }
      s += ")";
      if (a.dynamic_mask >= 0 && a.dynamic_mask < MaxBits(af))
        s += "/" + std::to_string(a.dynamic_mask);
      return s;
    }
    case AddrKind::kPrefix:
      break;
  }
  if (a.prefix.addr.is_zero() && a.prefix.len == 0) return "any";
  s = a.prefix.addr.ToString();
  if (a.prefix.len < a.prefix.addr.max_prefix()) s += "/" + std::to_string(a.prefix.len);
  return s;
}

std::string FormatRule(const Rule& r) {
  const bool anchor = r.action == Action::kAnchor;
  std::string s;
  switch (r.action) {
    case Action::kPass: s = "pass"; break;
    case Action::kBlock: s = "block"; break;
    case Action::kMatch: s = "match"; break;
    case Action::kAnchor:
      s = r.anchor_name.empty() ? "anchor" : "anchor \"" + r.anchor_name + "\"";
      break;
  }
  if (r.action == Action::kBlock) {
    switch (r.block) {
      case BlockPolicy::kReturn: s += " return"; break;
      case BlockPolicy::kReturnRst:
        s += r.return_ttl ? " return-rst(ttl " + std::to_string(r.return_ttl) + ")" : " return-rst";
        break;
      case BlockPolicy::kReturnIcmp: {
        uint8_t c4 = r.return_icmp.value_or(3), c6 = r.return_icmp6.value_or(4);
        std::string n4(IcmpCodeName(3, c4, false)), n6(IcmpCodeName(1, c6, true));
        if (n4.empty()) n4 = std::to_string(c4);
        if (n6.empty()) n6 = std::to_string(c6);
        if (r.af == Family::kV4) s += " return-icmp(" + n4 + ")";
        else if (r.af == Family::kV6) s += " return-icmp6(" + n6 + ")";
        else s += " return-icmp(" + n4 + ", " + n6 + ")";
        break;
      }
      case BlockPolicy::kDefault:
      case BlockPolicy::kDrop: s += " drop"; break;
    }
  }
  if (r.direction == Direction::kIn) s += " in";
  else if (r.direction == Direction::kOut) s += " out";
  if (r.log.enabled) {
    s += " log";
    if (r.log.all || r.log.matches || r.log.user || r.log.to_pflog > 0) {
      std::vector<std::string> parts;
      if (r.log.all) parts.push_back("all");
      if (r.log.matches) parts.push_back("matches");
      if (r.log.user) parts.push_back("user");
      if (r.log.to_pflog > 0) parts.push_back("to pflog" + std::to_string(r.log.to_pflog));
      s += " (";
      for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
      s += ")";
    }
  }
  if (r.quick) s += " quick";
  if (!r.interface.name.empty()) s += (r.interface.negated ? " on ! " : " on ") + r.interface.name;
  if (r.af == Family::kV4) s += " inet";
  else if (r.af == Family::kV6) s += " inet6";
  if (r.proto && *r.proto) s += " proto " + ProtoText(*r.proto);

  auto is_zero_any = [](const Address& a) {
    return !a.negated && (a.kind == AddrKind::kAny ||
                          (a.kind == AddrKind::kPrefix && a.prefix.addr.is_zero() && a.prefix.len == 0));
  };
  if (is_zero_any(r.src) && is_zero_any(r.dst) && r.src_port.op == RangeOp::kNone &&
      r.dst_port.op == RangeOp::kNone) {
    s += " all";
  } else {
    auto port_text = [](const PortRange& p) {
      return " port" + OpText(p.op, std::to_string(p.low), std::to_string(p.high));
    };
    s += " from ";
    if (r.src.negated) s += "! ";
    s += FormatAddress(r.src, r.af);
    if (r.src_port.op != RangeOp::kNone) s += port_text(r.src_port);
    s += " to ";
    if (r.dst.negated) s += "! ";
    s += FormatAddress(r.dst, r.af);
    if (r.dst_port.op != RangeOp::kNone) s += port_text(r.dst_port);
  }
  if (r.received_on) s += std::string(" ") + (r.received_on_negated ? "!" : "") + "received-on " + *r.received_on;
  if (r.uid.op != RangeOp::kNone) s += IdText(r.uid, "user");
  if (r.gid.op != RangeOp::kNone) s += IdText(r.gid, "group");
  const bool keeps_state = r.state.kind != StateKind::kNone;
  if (r.flags.set || r.flags.mask) {
    s += " flags " + FlagLetters(r.flags.set) + "/" + FlagLetters(r.flags.mask);
  } else if ((r.action == Action::kPass || r.action == Action::kMatch) &&
             (!r.proto || *r.proto == 0 || *r.proto == 6) && !r.fragment && !anchor && keeps_state) {
    s += " flags any";
  }
  if (r.icmp.type) {
    bool v6 = r.af == Family::kV6;
    s += v6 ? " icmp6-type" : " icmp-type";
    std::string_view tn = IcmpTypeName(*r.icmp.type, v6);
    s += " " + (tn.empty() ? std::to_string(*r.icmp.type) : std::string(tn));
    if (r.icmp.code) {
      std::string_view cn = IcmpCodeName(*r.icmp.type, *r.icmp.code, v6);
      s += " code " + (cn.empty() ? std::to_string(*r.icmp.code) : std::string(cn));
    }
  }
  if (r.tos) s += " tos " + Hex2(*r.tos);
  if (r.prio) s += " prio " + std::to_string(*r.prio);
  if (r.max_pkt_rate_packets)
    s += " max-pkt-rate " + std::to_string(*r.max_pkt_rate_packets) + "/" +
         std::to_string(r.max_pkt_rate_seconds);
  if (r.set_prio.given || r.set_tos) {
    std::string comma;
    s += " set (";
    if (r.set_prio.given) {
      uint8_t second = r.set_prio.prio2.value_or(r.set_prio.prio);
      if (second == r.set_prio.prio)
        s += "prio " + std::to_string(r.set_prio.prio);
      else
        s += "prio(" + std::to_string(r.set_prio.prio) + ", " + std::to_string(second) + ")";
      comma = ", ";
    }
    if (r.set_tos) s += comma + "tos " + Hex2(*r.set_tos);
    s += ")";
  }

  const StateOptions& st = r.state;
  bool ropts = st.max || st.max_src_nodes || st.max_src_states || st.no_sync ||
               st.source_track != SourceTrack::kNone || st.if_bound || st.sloppy || st.pflow ||
               !st.timeouts.empty();
  if (!keeps_state && r.action == Action::kPass && !anchor) s += " no state";
  else if (st.kind == StateKind::kKeep && ropts && keeps_state) s += " keep state";
  else if (st.kind == StateKind::kModulate) s += " modulate state";
  else if (st.kind == StateKind::kSynproxy) s += " synproxy state";
  if (r.probability) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%f", r.probability * 100.0 / (4294967295.0 + 1.0));
    std::string p = buf;
    for (size_t i = p.size() - 1; i > 0; --i) {
      if (p[i] == '0') {
        p.resize(i);
      } else {
        if (p[i] == '.') p.resize(i);
        break;
      }
    }
    s += " probability " + p + "%";
  }
  if (ropts && keeps_state) {
    std::vector<std::string> parts;
    if (st.max) parts.push_back("max " + std::to_string(*st.max));
    if (st.no_sync) parts.push_back("no-sync");
    if (st.source_track != SourceTrack::kNone)
      parts.push_back(st.source_track == SourceTrack::kRule ? "source-track rule" : "source-track global");
    if (st.max_src_states) parts.push_back("max-src-states " + std::to_string(*st.max_src_states));
    if (st.max_src_conn) parts.push_back("max-src-conn " + std::to_string(*st.max_src_conn));
    if (st.max_src_conn_rate)
      parts.push_back("max-src-conn-rate " + std::to_string(st.max_src_conn_rate->first) + "/" +
                      std::to_string(st.max_src_conn_rate->second));
    if (st.max_src_nodes) parts.push_back("max-src-nodes " + std::to_string(*st.max_src_nodes));
    if (!st.overload_table.empty()) {
      std::string o = "overload <" + st.overload_table + ">";
      if (st.overload_flush || st.overload_flush_global) o += " flush";
      if (st.overload_flush_global) o += " global";
      parts.push_back(o);
    }
    if (st.if_bound) parts.push_back("if-bound");
    if (st.sloppy) parts.push_back("sloppy");
    if (st.pflow) parts.push_back("pflow");
    std::vector<Timeout> ts = st.timeouts;
    std::stable_sort(ts.begin(), ts.end(),
                     [](const Timeout& a, const Timeout& b) { return a.kind < b.kind; });
    for (const Timeout& t : ts) parts.push_back(std::string(TimeoutName(t.kind)) + " " + std::to_string(t.seconds));
    s += " (";
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
    s += ")";
  }
  if (r.fragment) s += " fragment";
  const ScrubOptions& sc = r.scrub;
  if (sc.no_df || sc.random_id || sc.reassemble_tcp || sc.min_ttl || sc.max_mss) {
    std::vector<std::string> parts;
    if (sc.no_df) parts.push_back("no-df");
    if (sc.random_id) parts.push_back("random-id");
    if (sc.min_ttl) parts.push_back("min-ttl " + std::to_string(*sc.min_ttl));
    if (sc.reassemble_tcp) parts.push_back("reassemble tcp");
    if (sc.max_mss) parts.push_back("max-mss " + std::to_string(*sc.max_mss));
    s += " scrub (";
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? " " : "") + parts[i];
    s += ")";
  }
  if (r.allow_opts) s += " allow-opts";
  if (!r.label.empty()) s += " label \"" + r.label + "\"";
  if (r.once) s += " once";
  if (!r.tag.empty()) s += " tag " + r.tag;
  if (!r.tagged.empty()) s += std::string(r.tagged_negated ? " !" : "") + " tagged " + r.tagged;
  if (!anchor) {
    if (r.af_to) {
      s += std::string(" af-to ") + (r.af_to->af == Family::kV4 ? "inet" : "inet6") + " from ";
      s += PoolText(r.af_to->from, r.af_to->af, PoolRole::kNat);
      if (!r.af_to->to.empty()) s += " to " + PoolText(r.af_to->to, r.af_to->af, PoolRole::kRdr);
    } else if (!r.nat.empty()) {
      s += " nat-to " + PoolText(r.nat, r.af, PoolRole::kNat);
    } else if (!r.rdr.empty()) {
      s += " rdr-to " + PoolText(r.rdr, r.af, PoolRole::kRdr);
    }
  }
  if (r.route_kind != RouteKind::kNone) {
    s += r.route_kind == RouteKind::kRouteTo ? " route-to " : r.route_kind == RouteKind::kReplyTo ? " reply-to " : " dup-to ";
    s += PoolText(r.route, r.af, PoolRole::kRoute);
  }
  return s;
}

std::string FormatTable(const Table& t) {
  std::string s = "table <" + t.name + ">";
  if (t.is_const) s += " const";
  if (t.persist) s += " persist";
  if (t.counters) s += " counters";
  for (size_t i = 0; i < t.sources.size(); ++i) {
    const TableSource& src = t.sources[i];
    if (src.is_file) {
      s += " file \"" + src.file + "\"";
      continue;
    }
    s += " {";
    // Consecutive inline blocks print as one.
    for (;;) {
      for (const TableEntry& e : t.sources[i].entries) {
        Address a;
        a.kind = AddrKind::kPrefix;
        a.prefix = e.prefix;
        s += (e.negated ? " !" : " ") + FormatAddress(a, e.prefix.addr.family());
      }
      if (i + 1 < t.sources.size() && !t.sources[i + 1].is_file) ++i;
      else break;
    }
    s += " }";
  }
  return s;
}

std::string FormatOption(const Option& o) {
  switch (o.kind) {
    case OptionKind::kTimeout:
      return std::string("set timeout ") + TimeoutName(o.timeout) + " " + std::to_string(o.value);
    case OptionKind::kLimit:
      return std::string("set limit ") + LimitName(o.limit) + " " + std::to_string(o.value);
    case OptionKind::kOptimization: return "set optimization " + o.text;
    case OptionKind::kLoginterface: return "set loginterface " + o.text;
    case OptionKind::kHostid: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "set hostid 0x%08x", o.value);
      return buf;
    }
    case OptionKind::kBlockPolicy: return o.flag ? "set block-policy return" : "set block-policy drop";
    case OptionKind::kStatePolicy: return o.flag ? "set state-policy floating" : "set state-policy if-bound";
    case OptionKind::kReassemble:
      return std::string("set reassemble ") + (o.flag ? "yes" : "no") + " " + (o.no_df ? "no-df" : "");
    case OptionKind::kSkip: {
      if (o.interfaces.size() == 1 && o.interfaces[0] == "none") return "set skip on none";
      std::string s = "set skip on {";
      for (const std::string& i : o.interfaces) s += " " + i;
      return s + " }";
    }
    case OptionKind::kDebug: return "set debug " + o.text;
    case OptionKind::kSyncookies:
      if (o.text == "adaptive" && o.watermarks)
        return "set syncookies adaptive (start " + std::to_string(o.adaptive_start) + "%, end " +
               std::to_string(o.adaptive_end) + "%)";
      return "set syncookies " + o.text;
    case OptionKind::kRulesetOptimization: return "set ruleset-optimization " + o.text;
    case OptionKind::kFingerprints: return "set fingerprints \"" + o.text + "\"";
    case OptionKind::kStateDefaults: {
      Rule r;
      r.action = Action::kPass;
      r.state = o.state_defaults;
      std::string line = FormatRule(r);
      // The rule printer's "keep state (a, b)" holds the list: print it bare.
      size_t open = line.find(" keep state (");
      if (open == std::string::npos) return "set state-defaults";
      std::string list = line.substr(open + 13);
      list = list.substr(0, list.find(')'));
      return "set state-defaults " + list;
    }
  }
  return {};
}

std::string FormatMacro(const Macro& m) { return m.name + " = \"" + m.value + "\""; }

std::string FormatRules(const Ruleset& rs, int indent) {
  std::string out;
  std::string pad(static_cast<size_t>(indent), ' ');
  for (const Rule& r : rs.rules) {
    out += pad + FormatRule(r);
    if (r.action == Action::kAnchor && r.anchor_body) {
      out += " {\n";
      out += FormatRules(*r.anchor_body, indent + 2);
      out += pad + "}\n";
    } else {
      out += "\n";
    }
  }
  return out;
}

std::string FormatRuleset(const Ruleset& rs, const PrintOptions& options) {
  std::string out;
  if (options.preamble) {
    for (const PreambleItem& item : rs.preamble) {
      switch (item.kind) {
        case PreambleKind::kMacro: out += FormatMacro(rs.macros[item.index]) + "\n"; break;
        case PreambleKind::kOption: out += FormatOption(rs.options[item.index]) + "\n"; break;
        case PreambleKind::kTable:
          if (options.tables) out += FormatTable(rs.tables[item.index]) + "\n";
          break;
      }
    }
  }
  if (options.rules) out += FormatRules(rs, 0);
  return out;
}

}  // namespace hapf::pf
