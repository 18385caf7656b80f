#include "pf/lang_parser.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "pf/lang_lexer.h"
#include "pf/lang_names.h"
#include "pf/lang_printer.h"

namespace hapf::pf {
namespace {

// Thrown after an error has been reported: the statement is abandoned and
// parsing resumes on the next line (pfctl's `error '\n'` recovery).
struct Abort {};

// An address as parsed, before expansion; interface names and host names are
// already turned into addresses (one HostNode each).
struct HostNode {
  Address addr;
  std::string scope_if;  // interface of a scoped (link-local) IPv6 address
  int bad_v4_mask = 0;   // an IPv4 address given a mask over 32 (fails if used)
};

struct PoolSpec {
  bool given = false;
  std::vector<HostNode> hosts;
  uint16_t port_low = 0, port_high = 0;
  bool port_star = false;  // rdr-to ... port a:*
  PoolType type = PoolType::kNone;
  bool has_key = false;
  std::array<uint8_t, 16> key{};
  bool sticky = false;
  bool static_port = false;
};

struct FilterOpts {
  std::vector<IdRange> uids, gids;
  bool flags_given = false;
  TcpFlags flags;
  std::vector<IcmpSpec> icmps;
  std::optional<uint8_t> tos;
  bool state_given = false;
  StateOptions state;
  bool fragment = false, allow_opts = false;
  bool label_given = false;
  std::string label, tag, tagged;
  bool tagged_negated = false;
  std::optional<uint8_t> prio;
  SetPrio set_prio;
  std::optional<uint8_t> set_tos;
  bool once = false;
  uint32_t probability = 0;
  std::optional<std::string> received_on;
  bool received_on_negated = false;
  std::optional<uint32_t> pkt_rate;
  uint32_t pkt_rate_seconds = 0;
  ScrubOptions scrub;
  PoolSpec nat, rdr, binat, route;
  RouteKind route_kind = RouteKind::kNone;
  Family afto = Family::kNone;
  PoolSpec afto_from, afto_to;
  int divert_count = 0;
  bool divert_reply = false;
  std::string unsupported;  // first feature hapf refuses
};

struct RuleSpec {
  Rule base;
  std::vector<InterfaceSpec> ifaces;
  std::vector<uint8_t> protos;
  std::vector<HostNode> src_hosts, dst_hosts;
  std::vector<PortRange> src_ports, dst_ports;
  FilterOpts opts;
};

const std::set<std::string, std::less<>>& Keywords() {
  static const std::set<std::string, std::less<>> k = {
      "all", "allow-opts", "anchor", "antispoof", "any", "binat-to", "block", "code", "const",
      "counters", "divert-packet", "divert-reply", "divert-to", "drop", "dup-to", "file",
      "flags", "floating", "for", "fragment", "from", "group", "icmp-type", "icmp6-type",
      "if-bound", "in", "include", "inet", "inet6", "keep", "label", "load", "log", "match",
      "max", "max-mss", "max-src-conn", "max-src-conn-rate", "max-src-nodes", "max-src-states",
      "min-ttl", "modulate", "nat-to", "no", "no-df", "no-route", "no-sync", "on", "once", "os",
      "out", "overload", "pass", "persist", "port", "prio", "probability", "proto", "quick",
      "random-id", "rdr-to", "reassemble", "received-on", "reply-to", "return", "return-icmp",
      "return-icmp6", "return-rst", "route-to", "rtable", "scrub", "set", "sloppy", "source-track",
      "state", "synproxy", "table", "tag", "tagged", "to", "tos", "urpf-failed", "user",
      "af-to", "max-pkt-rate", "queue", "pflow", "self"};
  return k;
}

bool ParseUnsigned(const std::string& s, uint64_t& out, int base = 0) {
  if (s.empty() || s[0] == '-' || s[0] == '+' || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, base);
  if (errno || *end) return false;
  out = v;
  return true;
}

// inet_net_pton(AF_INET) for the "10/8", "172.16/12" forms: 1-4 decimal octets.
std::optional<net::IpAddr> ParseShortV4(const std::string& s) {
  uint8_t b[4] = {0, 0, 0, 0};
  size_t i = 0;
  int octet = 0;
  for (size_t pos = 0; pos <= s.size();) {
    size_t dot = s.find('.', pos);
    std::string part = s.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (part.empty() || part.size() > 3 || octet >= 4) return std::nullopt;
    for (char c : part)
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    int v = std::stoi(part);
    if (v > 255) return std::nullopt;
    b[octet++] = static_cast<uint8_t>(v);
    if (dot == std::string::npos) break;
    pos = dot + 1;
    ++i;
  }
  return net::IpAddr::V4Bytes(b);
}

std::optional<TimeoutKind> TimeoutByName(const std::string& name) {
  static const std::pair<const char*, TimeoutKind> kNames[] = {
      {"tcp.first", TimeoutKind::kTcpFirst}, {"tcp.opening", TimeoutKind::kTcpOpening},
      {"tcp.established", TimeoutKind::kTcpEstablished}, {"tcp.closing", TimeoutKind::kTcpClosing},
      {"tcp.finwait", TimeoutKind::kTcpFinWait}, {"tcp.closed", TimeoutKind::kTcpClosed},
      {"tcp.tsdiff", TimeoutKind::kTcpTsDiff}, {"udp.first", TimeoutKind::kUdpFirst},
      {"udp.single", TimeoutKind::kUdpSingle}, {"udp.multiple", TimeoutKind::kUdpMultiple},
      {"icmp.first", TimeoutKind::kIcmpFirst}, {"icmp.error", TimeoutKind::kIcmpError},
      {"other.first", TimeoutKind::kOtherFirst}, {"other.single", TimeoutKind::kOtherSingle},
      {"other.multiple", TimeoutKind::kOtherMultiple}, {"frag", TimeoutKind::kFrag},
      {"interval", TimeoutKind::kInterval}, {"adaptive.start", TimeoutKind::kAdaptiveStart},
      {"adaptive.end", TimeoutKind::kAdaptiveEnd}, {"src.track", TimeoutKind::kSrcTrack}};
  for (const auto& [n, kind] : kNames)
    if (name == n) return kind;
  return std::nullopt;
}

class Parser {
 public:
  Parser(const HostEnvironment& env, const ParseOptions& opts, ParseResult& result)
      : env_(env), opts_(opts), result_(result) {
    for (const auto& [k, v] : opts.defines) defines_[k] = v;
  }

  void ParseText(std::string text, const std::string& filename, Ruleset& rs, int depth);

 private:
  // ------------------------------------------------------------ tokens
  // References from Peek() die when Take() pops the token: callers keep copies.
  const Token& Peek(size_t k = 0) {
    while (ahead_.size() <= k) ahead_.push_back(lexer_->Next());
    return ahead_[k];
  }
  Token Take() {
    Peek();
    Token t = std::move(ahead_.front());
    ahead_.pop_front();
    return t;
  }
  bool AcceptWord(std::string_view w) {
    if (Peek().IsWord(w)) {
      Take();
      return true;
    }
    return false;
  }
  bool AcceptPunct(std::string_view p) {
    if (Peek().Is(p)) {
      Take();
      return true;
    }
    return false;
  }
  bool AtEnd() {
    const Token t = Peek();
    return t.kind == TokKind::kNewline || t.kind == TokKind::kEof ||
           (brace_depth_ > 0 && t.Is("}"));
  }
  void SkipNewlines() {
    while (Peek().kind == TokKind::kNewline) Take();
  }

  // ------------------------------------------------------------ errors
  void ErrorAt(int line, const std::string& msg) {
    result_.messages.push_back(filename_ + ":" + std::to_string(line) + ": " + msg);
    ++result_.error_count;
  }
  void Error(const std::string& msg) { ErrorAt(Peek().line, msg); }
  [[noreturn]] void Fail(const std::string& msg) {
    Error(msg);
    throw Abort{};
  }
  [[noreturn]] void SyntaxError() {
    const Token t = Peek();
    ErrorAt(t.line, "syntax error");
    throw Abort{};
  }
  void Raw(const std::string& msg) { result_.messages.push_back(msg); }
  void Recover() {
    for (;;) {
      Token t = Take();
      if (t.kind == TokKind::kNewline || t.kind == TokKind::kEof) {
        if (t.kind == TokKind::kEof) ahead_.push_front(t);
        return;
      }
      if (brace_depth_ > 0 && t.Is("}")) {
        ahead_.push_front(t);
        return;
      }
    }
  }
  void ExpectEnd() {
    if (!AtEnd()) SyntaxError();
  }

  // A pfctl "string": an unquoted word or a quoted string.
  std::string ExpectString() {
    if (!Peek().IsString()) SyntaxError();
    return Take().text;
  }
  // pfctl's numberstring/string: words, quoted strings and numbers.
  std::string ExpectStringOrNumber() {
    const Token t = Peek();
    if (!t.IsString() && t.kind != TokKind::kNumber) SyntaxError();
    return Take().text;
  }
  int64_t ExpectNumber() {
    if (Peek().kind != TokKind::kNumber) SyntaxError();
    return Take().number;
  }

  // ------------------------------------------------------------ statements
  void Statements(Ruleset& rs, int depth);
  void Statement(Ruleset& rs, int depth);
  void MacroDef();
  void Include(Ruleset& rs, int depth);
  void SetOption(Ruleset& rs);
  void TableDef(Ruleset& rs);
  void RuleStatement(Ruleset& rs, int depth);
  void Antispoof(Ruleset& rs);
  void LoadAnchor(Ruleset& rs, int depth);
  void AddOption(Ruleset& rs, Option o) {
    o.line = Peek().line;
    rs.options.push_back(std::move(o));
    rs.preamble.push_back({PreambleKind::kOption, rs.options.size() - 1});
  }

  // ------------------------------------------------------------ pieces
  // The items of a `{ a, b c }` list whose '{' has been read; newlines and
  // commas separate items. Returns how many there were.
  template <typename F>
  size_t BracedItems(F item) {
    size_t n = 0;
    for (;;) {
      SkipNewlines();
      while (AcceptPunct(",")) SkipNewlines();
      if (AcceptPunct("}")) return n;
      if (Peek().kind == TokKind::kEof) SyntaxError();
      if (++n > opts_.max_list_items) Fail("list too long");
      item();
    }
  }
  // One item, or a non-empty braced list of them.
  template <typename F>
  void List(F item) {
    if (AcceptPunct("{")) {
      if (BracedItems(item) == 0) SyntaxError();
    } else {
      item();
    }
  }
  std::vector<InterfaceSpec> InterfaceList();
  std::vector<uint8_t> ProtoList();
  std::vector<HostNode> HostList();
  void HostItem(std::vector<HostNode>& out);
  std::optional<std::vector<HostNode>> ResolveHost(const std::string& text);
  std::vector<HostNode> IfaLookup(const std::string& name, IfaceModifier mod);
  bool InterfaceExists(const std::string& name) const;
  std::vector<PortRange> PortList();
  uint16_t PortNumber(const std::string& s);
  PortRange PortItem();
  std::vector<IdRange> IdList(bool user);
  uint32_t IdValue(const std::string& s, bool user);
  void FilterOptions(FilterOpts& o, bool is_anchor);
  // `( opt, opt )` after keep state, or a bare list (set state-defaults).
  void StateOpts(StateOptions& st, bool bare = false);
  void ScrubOpts(ScrubOptions& sc);
  void FlagsSpec(TcpFlags& f);
  void IcmpList(std::vector<IcmpSpec>& out, bool v6);
  uint8_t TosValue();
  void SetSpec(FilterOpts& o);
  uint8_t PrioValue();
  void Redirspec(PoolSpec& p, bool with_port, bool with_opts);
  void PoolOptions(PoolSpec& p);
  void LogOpts(LogOptions& log);
  std::string TagString(const char* what);

  // ------------------------------------------------------------ expansion
  void Expand(Ruleset& rs, RuleSpec& spec, int line);
  bool ResolvePool(const PoolSpec& spec, Family& af, Pool& out, Ruleset& rs, int line, bool for_binat_src);
  std::string ExpandLabel(const std::string& label, const Rule& r, int nr) const;
  // Set by earlier `set` lines and applied to the rules that follow, as pfctl does.
  int block_policy_return_ = 0;
  bool default_if_bound_ = false;           // set state-policy if-bound
  std::optional<StateOptions> state_defaults_;  // set state-defaults ...

  const HostEnvironment& env_;
  const ParseOptions& opts_;
  ParseResult& result_;
  std::map<std::string, std::string> macros_;
  std::map<std::string, std::string> defines_;
  std::unique_ptr<Lexer> lexer_;
  std::deque<Token> ahead_;
  std::string filename_;
  int brace_depth_ = 0;
  int include_depth_ = 0;
  int automatic_tables_ = 0;
  size_t total_rules_ = 0;
  Ruleset* top_ = nullptr;
};

void Parser::ParseText(std::string text, const std::string& filename, Ruleset& rs, int depth) {
  if (!top_) top_ = &rs;
  auto saved_lexer = std::move(lexer_);
  auto saved_ahead = std::move(ahead_);
  std::string saved_name = filename_;
  int saved_brace = brace_depth_;
  ahead_.clear();
  filename_ = filename;
  brace_depth_ = 0;
  lexer_ = std::make_unique<Lexer>(
      std::move(text),
      [this](const std::string& name) -> std::optional<std::string> {
        if (auto it = defines_.find(name); it != defines_.end()) return it->second;
        if (auto it = macros_.find(name); it != macros_.end()) return it->second;
        return std::nullopt;
      },
      [this](int line, const std::string& msg) { ErrorAt(line, msg); });
  Statements(rs, depth);
  lexer_ = std::move(saved_lexer);
  ahead_ = std::move(saved_ahead);
  filename_ = saved_name;
  brace_depth_ = saved_brace;
}

void Parser::Statements(Ruleset& rs, int depth) {
  for (;;) {
    const Token t = Peek();
    if (t.kind == TokKind::kEof) return;
    if (t.kind == TokKind::kNewline) {
      Take();
      continue;
    }
    if (brace_depth_ > 0 && t.Is("}")) return;
    try {
      Statement(rs, depth);
    } catch (const Abort&) {
      Recover();
    }
  }
}

void Parser::Statement(Ruleset& rs, int depth) {
  const Token t = Peek();
  if (t.kind == TokKind::kError) SyntaxError();
  if (t.kind == TokKind::kWord) {
    const std::string& w = t.text;
    if (Peek(1).Is("=")) return MacroDef();
    if (w == "include") return Include(rs, depth);
    if (w == "set") return SetOption(rs);
    if (w == "table") return TableDef(rs);
    if (w == "pass" || w == "block" || w == "match" || w == "anchor") return RuleStatement(rs, depth);
    if (w == "antispoof") return Antispoof(rs);
    if (w == "load") return LoadAnchor(rs, depth);
    if (w == "queue" || w == "altq") Fail("queue definitions are not supported on hapf");
  } else if (t.kind == TokKind::kQuoted && Peek(1).Is("=")) {
    return MacroDef();
  }
  SyntaxError();
}

void Parser::MacroDef() {
  Token name = Take();
  if (name.kind == TokKind::kWord && Keywords().count(name.text)) SyntaxError();
  for (char c : name.text)
    if (std::isspace(static_cast<unsigned char>(c))) Fail("macro name cannot contain whitespace");
  Take();  // '='
  std::string value;
  bool any = false;
  while (!AtEnd()) {
    const Token v = Peek();
    if (!v.IsString() && v.kind != TokKind::kNumber) SyntaxError();
    if (any) value += " ";
    value += Take().text;
    any = true;
  }
  if (!any) SyntaxError();
  if (!defines_.count(name.text)) macros_[name.text] = value;
  top_->macros.push_back({name.text, value});
  top_->preamble.push_back({PreambleKind::kMacro, top_->macros.size() - 1});
}

void Parser::Include(Ruleset& rs, int depth) {
  Take();
  std::string path = ExpectString();
  ExpectEnd();
  if (include_depth_ >= opts_.max_include_depth) Fail("include nesting too deep");
  std::string err;
  std::optional<std::string> text = env_.ReadFile(path, err);
  if (!text) Fail("failed to include file " + path);
  ++include_depth_;
  ParseText(std::move(*text), path, rs, depth);
  --include_depth_;
}

void Parser::LoadAnchor(Ruleset& rs, int depth) {
  Take();
  if (!AcceptWord("anchor")) SyntaxError();
  std::string name = ExpectStringOrNumber();
  if (!AcceptWord("from")) SyntaxError();
  std::string path = ExpectString();
  ExpectEnd();
  if (include_depth_ >= opts_.max_include_depth) Fail("load anchor nesting too deep");
  std::string err;
  std::optional<std::string> text = env_.ReadFile(path, err);
  if (!text) Fail("cannot load \"" + path + "\": " + err);
  auto body = std::make_shared<Ruleset>();
  ++include_depth_;
  Ruleset* saved_top = top_;
  top_ = body.get();
  auto saved_macros = macros_;
  ParseText(std::move(*text), path, *body, depth + 1);
  macros_ = std::move(saved_macros);
  top_ = saved_top;
  --include_depth_;
  rs.load_anchors.push_back({name, path});
  // Attach the loaded rules to the anchor rule of that name, as pfctl does.
  for (Rule& r : rs.rules)
    if (r.action == Action::kAnchor && r.anchor_name == name && !r.anchor_body) r.anchor_body = body;
}

// ------------------------------------------------------------------ set

void Parser::SetOption(Ruleset& rs) {
  Take();
  const Token t = Peek();
  if (t.kind != TokKind::kWord) SyntaxError();
  std::string what = Take().text;
  Option o;
  auto timeout_kind = [](const std::string& name, TimeoutKind& k) {
    std::optional<TimeoutKind> found = TimeoutByName(name);
    if (found) k = *found;
    return found.has_value();
  };

  if (what == "timeout" || what == "limit") {
    std::vector<Option> items;
    auto item = [&] {
      std::string name = ExpectString();
      int64_t v = ExpectNumber();
      if (v < 0 || v > UINT32_MAX) Fail("only positive values permitted");
      Option x;
      x.value = static_cast<uint32_t>(v);
      if (what == "timeout") {
        x.kind = OptionKind::kTimeout;
        if (!timeout_kind(name, x.timeout)) Fail("unknown timeout " + name);
      } else {
        x.kind = OptionKind::kLimit;
        static const std::pair<const char*, LimitKind> kLimits[] = {
            {"states", LimitKind::kStates}, {"frags", LimitKind::kFrags},
            {"src-nodes", LimitKind::kSrcNodes}, {"tables", LimitKind::kTables},
            {"table-entries", LimitKind::kTableEntries}, {"pktdelay_pkts", LimitKind::kPktdelayPkts},
            {"anchors", LimitKind::kAnchors}};
        bool found = false;
        for (const auto& [n, k] : kLimits)
          if (name == n) {
            x.limit = k;
            found = true;
          }
        if (!found) Fail("unknown limit " + name);
      }
      items.push_back(x);
    };
    List(item);
    ExpectEnd();
    for (Option& x : items) AddOption(rs, x);
    return;
  }
  if (what == "optimization") {
    std::string v = ExpectString();
    static const char* kOk[] = {"default", "normal", "high-latency", "satellite", "aggressive", "conservative"};
    if (std::none_of(std::begin(kOk), std::end(kOk), [&](const char* k) { return v == k; }))
      Fail("unknown optimization " + v);
    o.kind = OptionKind::kOptimization;
    o.text = v;
  } else if (what == "loginterface") {
    o.kind = OptionKind::kLoginterface;
    o.text = ExpectString();
  } else if (what == "hostid") {
    // A number, or the hex form pfctl prints (0x00000001).
    const Token h = Peek();
    if (h.kind != TokKind::kNumber && h.kind != TokKind::kWord) SyntaxError();
    std::string text = Take().text;
    uint64_t v;
    if (!ParseUnsigned(text, v) || v > UINT32_MAX) Fail("illegal hostid value " + text);
    if (v == 0) Fail("hostid must be non-zero");
    o.kind = OptionKind::kHostid;
    o.value = static_cast<uint32_t>(v);
  } else if (what == "block-policy") {
    o.kind = OptionKind::kBlockPolicy;
    if (AcceptWord("drop")) o.flag = false;
    else if (AcceptWord("return")) o.flag = true;
    else SyntaxError();
    block_policy_return_ = o.flag;
  } else if (what == "state-policy") {
    o.kind = OptionKind::kStatePolicy;
    if (AcceptWord("if-bound")) o.flag = false;
    else if (AcceptWord("floating")) o.flag = true;
    else SyntaxError();
    default_if_bound_ = !o.flag;
  } else if (what == "reassemble") {
    o.kind = OptionKind::kReassemble;
    std::string v = ExpectString();
    if (v == "yes") o.flag = true;
    else if (v == "no") o.flag = false;
    else Fail("unknown reassemble value " + v);
    if (AcceptWord("no-df")) o.no_df = true;
  } else if (what == "skip") {
    if (!AcceptWord("on")) SyntaxError();
    o.kind = OptionKind::kSkip;
    List([&] { o.interfaces.push_back(ExpectString()); });
  } else if (what == "debug") {
    o.kind = OptionKind::kDebug;
    std::string v = ExpectStringOrNumber();
    static const char* kLevels[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    uint64_t n;
    if (ParseUnsigned(v, n, 10)) {
      if (n > 7) Fail("unknown debug level " + v);
      v = kLevels[n];
    } else if (std::none_of(std::begin(kLevels), std::end(kLevels), [&](const char* k) { return v == k; })) {
      Fail("unknown debug level " + v);
    }
    o.value = 0;
    o.text = v;
  } else if (what == "syncookies") {
    o.kind = OptionKind::kSyncookies;
    std::string v = ExpectString();
    if (v != "never" && v != "always" && v != "adaptive") Fail("unknown syncookies mode " + v);
    o.text = v;
    if (v == "adaptive" && AcceptPunct("(")) {
      auto pct = [&](const char* word) {
        if (!AcceptWord(word)) SyntaxError();
        std::string p = ExpectStringOrNumber();
        if (!p.empty() && p.back() == '%') p.pop_back();
        uint64_t n;
        if (!ParseUnsigned(p, n, 10) || n > 100) Fail("illegal percentage " + p);
        return static_cast<uint32_t>(n);
      };
      o.watermarks = true;
      o.adaptive_start = pct("start");
      AcceptPunct(",");
      o.adaptive_end = pct("end");
      if (!AcceptPunct(")")) SyntaxError();
      if (o.adaptive_start <= o.adaptive_end) Fail("start must be higher than end");
    } else if (v == "adaptive") {
      o.adaptive_start = 25;  // pf's defaults (percent of the state limit)
      o.adaptive_end = 12;
    }
  } else if (what == "ruleset-optimization") {
    o.kind = OptionKind::kRulesetOptimization;
    std::string v = ExpectString();
    if (v != "none" && v != "basic" && v != "profile") Fail("unknown ruleset-optimization " + v);
    o.text = v;
  } else if (what == "fingerprints") {
    o.kind = OptionKind::kFingerprints;
    o.text = ExpectString();
  } else if (what == "state-defaults") {
    o.kind = OptionKind::kStateDefaults;
    StateOptions st;
    StateOpts(st, true);
    o.state_defaults = st;
    state_defaults_ = st;
  } else {
    SyntaxError();
  }
  ExpectEnd();
  AddOption(rs, o);
}

// ------------------------------------------------------------------ hosts

bool Parser::InterfaceExists(const std::string& name) const {
  for (const InterfaceInfo& i : env_.Interfaces()) {
    if (i.name == name) return true;
    if (std::find(i.groups.begin(), i.groups.end(), name) != i.groups.end()) return true;
  }
  return false;
}

std::vector<HostNode> Parser::IfaLookup(const std::string& name, IfaceModifier mod) {
  std::vector<HostNode> out;
  const auto& ifs = env_.Interfaces();
  bool is_group = false;
  for (const InterfaceInfo& i : ifs)
    if (std::find(i.groups.begin(), i.groups.end(), name) != i.groups.end()) is_group = true;
  bool self = name == "self";
  for (const InterfaceInfo& i : ifs) {
    bool match = self || i.name == name ||
                 (is_group && std::find(i.groups.begin(), i.groups.end(), name) != i.groups.end());
    if (!match) continue;
    bool got4 = false, got6 = false;
    for (const InterfaceAddress& a : i.addrs) {
      if (mod == IfaceModifier::kBroadcast &&
          (!a.addr.is_v4() || !i.broadcast || a.broadcast.empty() || a.broadcast.is_zero()))
        continue;
      if (mod == IfaceModifier::kPeer && !i.point_to_point) continue;
      if (mod == IfaceModifier::kNetwork && a.scope > 0) continue;
      if (mod == IfaceModifier::kNoAlias && ((a.addr.is_v4() && got4) || (a.addr.is_v6() && got6))) continue;
      if (a.addr.is_v4()) got4 = true;
      else got6 = true;
      HostNode n;
      n.addr.kind = AddrKind::kPrefix;
      net::IpAddr v = mod == IfaceModifier::kBroadcast ? a.broadcast
                      : mod == IfaceModifier::kPeer    ? a.peer
                                                       : a.addr;
      if (v.empty()) continue;
      int len = mod == IfaceModifier::kNetwork ? a.prefix_len : v.max_prefix();
      n.addr.prefix = Prefix{v, static_cast<uint8_t>(len)}.Normalized();
      if (a.scope) n.scope_if = i.name;
      out.push_back(n);
    }
  }
  return out;
}

std::optional<std::vector<HostNode>> Parser::ResolveHost(const std::string& text) {
  std::string s = text;
  int mask = -1;
  if (size_t slash = s.find('/'); slash != std::string::npos) {
    std::string m = s.substr(slash + 1);
    uint64_t v;
    bool digits = !m.empty() && std::all_of(m.begin(), m.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || !ParseUnsigned(m, v, 10)) {
      Raw("netmask is invalid: /" + m);
      return std::nullopt;
    }
    if (v > 128) {
      Raw("netmask is too large: /" + m);
      return std::nullopt;
    }
    mask = static_cast<int>(v);
    s.resize(slash);
  }
  auto apply_mask = [&](std::vector<HostNode>& v) {
    if (mask < 0) return true;
    for (HostNode& n : v) {
      if (n.addr.prefix.addr.is_v4() && mask > 32) {
        // Only an error if this address survives the rule's family filter.
        n.bad_v4_mask = mask;
        n.addr.prefix = Prefix::Host(n.addr.prefix.addr);
        continue;
      }
      n.addr.prefix = Prefix{n.addr.prefix.addr, static_cast<uint8_t>(mask)}.Normalized();
    }
    return true;
  };
  // An interface or group name, with optional modifiers.
  {
    std::string name = s;
    IfaceModifier mod = IfaceModifier::kNone;
    int mods = 0;
    bool ok = true;
    for (size_t colon; (colon = name.rfind(':')) != std::string::npos;) {
      std::string m = name.substr(colon + 1);
      if (m == "network") mod = IfaceModifier::kNetwork;
      else if (m == "broadcast") mod = IfaceModifier::kBroadcast;
      else if (m == "peer") mod = IfaceModifier::kPeer;
      else if (m == "0") mod = IfaceModifier::kNoAlias;
      else {
        ok = false;
        break;
      }
      ++mods;
      name.resize(colon);
    }
    if (ok && mods > 1) {
      Raw("illegal combination of interface modifiers");
      return std::nullopt;
    }
    if (ok && (mod == IfaceModifier::kNetwork || mod == IfaceModifier::kBroadcast) && mask >= 0) {
      Raw("network or broadcast lookup, but extra netmask given");
      return std::nullopt;
    }
    if (ok && (InterfaceExists(name) || name == "self")) {
      std::vector<HostNode> v = IfaLookup(name, mod);
      if (!v.empty()) {
        if (!apply_mask(v)) return std::nullopt;
        return v;
      }
    }
  }
  // A numeric address (IPv6 may carry a %scope).
  {
    std::string addr = s, scope;
    if (size_t pct = addr.find('%'); pct != std::string::npos) {
      scope = addr.substr(pct + 1);
      addr.resize(pct);
    }
    std::optional<net::IpAddr> ip = net::IpAddr::Parse(addr);
    if (ip && (!scope.empty() ? ip->is_v6() && InterfaceExists(scope) : true)) {
      HostNode n;
      n.addr.kind = AddrKind::kPrefix;
      n.addr.prefix = Prefix::Host(*ip);
      n.scope_if = scope;
      std::vector<HostNode> v{n};
      if (!apply_mask(v)) return std::nullopt;
      return v;
    }
    if (!ip && scope.empty() && mask >= 0) {
      if (std::optional<net::IpAddr> short4 = ParseShortV4(s)) {
        HostNode n;
        n.addr.kind = AddrKind::kPrefix;
        n.addr.prefix = Prefix::Host(*short4);
        std::vector<HostNode> v{n};
        if (!apply_mask(v)) return std::nullopt;
        return v;
      }
    }
  }
  // A host name.
  if (!opts_.no_dns) {
    std::string name = s;
    bool noalias = false;
    if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) {
      noalias = true;
      name.resize(name.size() - 2);
    }
    std::vector<net::IpAddr> addrs = env_.Resolve(name);
    std::vector<HostNode> v;
    bool got4 = false, got6 = false;
    for (const net::IpAddr& a : addrs) {
      if (noalias && ((a.is_v4() && got4) || (a.is_v6() && got6))) continue;
      (a.is_v4() ? got4 : got6) = true;
      HostNode n;
      n.addr.kind = AddrKind::kPrefix;
      n.addr.prefix = Prefix::Host(a);
      v.push_back(n);
    }
    if (!v.empty()) {
      if (!apply_mask(v)) return std::nullopt;
      return v;
    }
  }
  Raw("no IP address found for " + text);
  return std::nullopt;
}

void Parser::HostItem(std::vector<HostNode>& out) {
  bool neg = AcceptPunct("!");
  const Token t = Peek();
  std::vector<HostNode> nodes;
  if (t.IsWord("any")) {
    Take();
    nodes.push_back({});
  } else if (t.IsWord("no-route")) {
    Take();
    HostNode n;
    n.addr.kind = AddrKind::kNoRoute;
    nodes.push_back(n);
  } else if (t.IsWord("urpf-failed")) {
    Take();
    HostNode n;
    n.addr.kind = AddrKind::kUrpfFailed;
    nodes.push_back(n);
  } else if (t.IsWord("route")) {
    Fail("route labels are not supported on hapf");
  } else if (t.Is("<")) {
    Take();
    std::string name = ExpectStringOrNumber();
    if (!AcceptPunct(">")) SyntaxError();
    if (name.size() >= 32) Fail("table name too long");
    HostNode n;
    n.addr.kind = AddrKind::kTable;
    n.addr.name = name;
    nodes.push_back(n);
  } else if (t.Is("(")) {
    Take();
    std::string name = ExpectString();
    if (!AcceptPunct(")")) SyntaxError();
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
      Fail("invalid interface name '" + name + "'");
    HostNode n;
    n.addr.kind = AddrKind::kDynamic;
    int mods = 0;
    for (size_t colon; (colon = name.rfind(':')) != std::string::npos;) {
      std::string m = name.substr(colon + 1);
      if (m == "network") n.addr.modifier = IfaceModifier::kNetwork;
      else if (m == "broadcast") n.addr.modifier = IfaceModifier::kBroadcast;
      else if (m == "peer") n.addr.modifier = IfaceModifier::kPeer;
      else if (m == "0") n.addr.modifier = IfaceModifier::kNoAlias;
      else Fail("invalid interface name '" + name + "'");
      ++mods;
      name.resize(colon);
    }
    if (mods > 1) Fail("illegal combination of interface modifiers");
    n.addr.name = name;
    if (AcceptPunct("/")) {
      int64_t m = ExpectNumber();
      if (m < 0 || m > 128) Fail("illegal netmask");
      n.addr.dynamic_mask = static_cast<int>(m);
    }
    nodes.push_back(n);
  } else if (t.IsString() || t.kind == TokKind::kNumber) {
    std::string s = Take().text;
    if (Peek().Is("/")) {
      Take();
      int64_t m = ExpectNumber();
      s += "/" + std::to_string(m);
    }
    if (Peek().Is("-")) {
      // An address range: both ends single addresses of one family.
      Take();
      std::string e = ExpectStringOrNumber();
      std::optional<net::IpAddr> a = net::IpAddr::Parse(s), b = net::IpAddr::Parse(e);
      if (!a || !b || a->family() != b->family()) Fail("could not parse host specification");
      HostNode n;
      n.addr.kind = AddrKind::kRange;
      n.addr.prefix = Prefix::Host(*a);
      n.addr.range_end = *b;
      nodes.push_back(n);
    } else {
      std::optional<std::vector<HostNode>> r = ResolveHost(s);
      if (!r) Fail("could not parse host specification");
      nodes = std::move(*r);
    }
  } else {
    SyntaxError();
  }
  for (HostNode& n : nodes) {
    n.addr.negated = neg;
    out.push_back(std::move(n));
  }
}

std::vector<HostNode> Parser::HostList() {
  std::vector<HostNode> out;
  List([&] { HostItem(out); });
  return out;
}

std::vector<InterfaceSpec> Parser::InterfaceList() {
  std::vector<InterfaceSpec> out;
  List([&] {
    InterfaceSpec s;
    s.negated = AcceptPunct("!");
    if (Peek().IsWord("rdomain")) Fail("rdomain is not supported on hapf");
    std::string name = ExpectString();
    if (name.size() >= 16) Fail("interface name too long");
    if (name != "any") s.name = name;
    out.push_back(s);
  });
  return out;
}

std::vector<uint8_t> Parser::ProtoList() {
  std::vector<uint8_t> out;
  List([&] {
    const Token t = Peek();
    if (t.kind == TokKind::kNumber) {
      int64_t v = Take().number;
      if (v < 0 || v > 255) Fail("protocol outside range");
      out.push_back(static_cast<uint8_t>(v));
      return;
    }
    std::string name = ExpectString();
    std::optional<uint8_t> p = ProtocolNumber(name);
    if (!p) Fail("unknown protocol " + name);
    out.push_back(*p);
  });
  return out;
}

uint16_t Parser::PortNumber(const std::string& s) {
  uint64_t v;
  if (ParseUnsigned(s, v)) {
    if (v > 65535) Fail("illegal port value " + std::to_string(v));
    return static_cast<uint16_t>(v);
  }
  std::optional<uint16_t> p = ServicePort(s);
  if (!p) Fail("unknown port " + s);
  return *p;
}

PortRange Parser::PortItem() {
  PortRange p;
  const Token t = Peek();
  static const std::pair<const char*, RangeOp> kUnary[] = {
      {"=", RangeOp::kEq}, {"!=", RangeOp::kNe}, {"<", RangeOp::kLt},
      {"<=", RangeOp::kLe}, {">", RangeOp::kGt}, {">=", RangeOp::kGe}};
  for (const auto& [sym, op] : kUnary) {
    if (t.Is(sym)) {
      Take();
      p.op = op;
      p.low = PortNumber(ExpectStringOrNumber());
      return p;
    }
  }
  std::string first = ExpectStringOrNumber();
  if (size_t colon = first.find(':'); colon != std::string::npos) {
    p.op = RangeOp::kInclusive;
    p.low = PortNumber(first.substr(0, colon));
    p.high = PortNumber(first.substr(colon + 1));
    return p;
  }
  p.low = PortNumber(first);
  if (Peek().Is("><") || Peek().Is("<>")) {
    p.op = Take().text == "><" ? RangeOp::kExcept : RangeOp::kOutside;
    p.high = PortNumber(ExpectStringOrNumber());
    return p;
  }
  p.op = RangeOp::kEq;
  return p;
}

std::vector<PortRange> Parser::PortList() {
  std::vector<PortRange> out;
  List([&] { out.push_back(PortItem()); });
  return out;
}

uint32_t Parser::IdValue(const std::string& s, bool user) {
  if (s == "unknown") return IdRange::kUnknownId;
  uint64_t v;
  if (ParseUnsigned(s, v, 10)) {
    if (v >= IdRange::kUnknownId) Fail(std::string(user ? "illegal uid value " : "illegal gid value ") + s);
    return static_cast<uint32_t>(v);
  }
  std::optional<uint32_t> id = user ? UserId(s) : GroupId(s);
  if (!id) Fail(std::string(user ? "unknown user " : "unknown group ") + s);
  return *id;
}

std::vector<IdRange> Parser::IdList(bool user) {
  std::vector<IdRange> out;
  List([&] {
    IdRange r;
    static const std::pair<const char*, RangeOp> kUnary[] = {
        {"=", RangeOp::kEq}, {"!=", RangeOp::kNe}, {"<", RangeOp::kLt},
        {"<=", RangeOp::kLe}, {">", RangeOp::kGt}, {">=", RangeOp::kGe}};
    for (const auto& [sym, op] : kUnary) {
      if (Peek().Is(sym)) {
        Take();
        r.op = op;
        r.low = IdValue(ExpectStringOrNumber(), user);
        out.push_back(r);
        return;
      }
    }
    r.low = IdValue(ExpectStringOrNumber(), user);
    if (Peek().Is("><") || Peek().Is("<>")) {
      r.op = Take().text == "><" ? RangeOp::kExcept : RangeOp::kOutside;
      r.high = IdValue(ExpectStringOrNumber(), user);
    } else {
      r.op = RangeOp::kEq;
    }
    out.push_back(r);
  });
  return out;
}

// ------------------------------------------------------------------ options

void Parser::LogOpts(LogOptions& log) {
  log.enabled = true;
  if (!AcceptPunct("(")) return;
  bool first = true;
  for (;;) {
    if (!first && !AcceptPunct(",")) break;
    first = false;
    if (AcceptWord("all")) log.all = true;
    else if (AcceptWord("matches")) log.matches = true;
    else if (AcceptWord("user")) log.user = true;
    else if (AcceptWord("to")) {
      std::string ifn = ExpectString();
      if (ifn.rfind("pflog", 0) != 0) Fail("invalid log interface " + ifn);
      uint64_t n;
      if (!ParseUnsigned(ifn.substr(5), n, 10) || n > 255) Fail("invalid log interface " + ifn);
      log.to_pflog = static_cast<int>(n);
    } else {
      SyntaxError();
    }
  }
  if (!AcceptPunct(")")) SyntaxError();
}

void Parser::FlagsSpec(TcpFlags& f) {
  auto letters = [&](const std::string& s) -> uint8_t {
    uint8_t v = 0;
    for (char c : s) {
      const char* p = std::strchr("FSRPAUEW", c);
      if (!p || !c) Fail("bad flags " + s);
      v |= static_cast<uint8_t>(1u << (p - "FSRPAUEW"));
    }
    return v;
  };
  f.given = true;
  if (AcceptWord("any")) {
    f.any = true;
    f.set = f.mask = 0;
    return;
  }
  uint8_t set = 0;
  if (Peek().kind == TokKind::kWord) set = letters(Take().text);
  if (!AcceptPunct("/")) SyntaxError();
  if (Peek().kind != TokKind::kWord) SyntaxError();
  uint8_t mask = letters(Take().text);
  if ((set & mask) != set) Fail("flags always false");
  f.set = set;
  f.mask = mask;
}

void Parser::IcmpList(std::vector<IcmpSpec>& out, bool v6) {
  List([&] {
    IcmpSpec s;
    s.v6 = v6;
    std::string t = ExpectStringOrNumber();
    uint64_t n;
    if (ParseUnsigned(t, n, 10)) {
      if (n > 255) Fail("illegal icmp-type " + t);
      s.type = static_cast<uint8_t>(n);
    } else {
      std::optional<uint8_t> ty = IcmpTypeNumber(t, v6);
      if (!ty) Fail(std::string(v6 ? "unknown icmp6-type " : "unknown icmp-type ") + t);
      s.type = *ty;
    }
    if (AcceptWord("code")) {
      std::string c = ExpectStringOrNumber();
      if (ParseUnsigned(c, n, 10)) {
        if (n > 255) Fail("illegal icmp-code " + c);
        s.code = static_cast<uint8_t>(n);
      } else {
        std::optional<IcmpCode> code = IcmpCodeByName(c, v6);
        if (!code || code->type != *s.type) Fail("unknown icmp-code " + c);
        s.code = code->code;
      }
    }
    out.push_back(s);
  });
}

uint8_t Parser::TosValue() {
  std::string v = ExpectStringOrNumber();
  if (v == "lowdelay") return 0x10;
  if (v == "throughput") return 0x08;
  if (v == "reliability") return 0x04;
  uint64_t n;
  if (!ParseUnsigned(v, n) || n > 255) Fail("illegal tos value " + v);
  return static_cast<uint8_t>(n);
}

uint8_t Parser::PrioValue() {
  if (Peek().kind != TokKind::kNumber) SyntaxError();
  int64_t v = Take().number;
  if (v < 0 || v > 7) Fail("prio must be 0 - 7");
  return static_cast<uint8_t>(v);
}

void Parser::SetSpec(FilterOpts& o) {
  auto one = [&] {
    if (AcceptWord("prio")) {
      o.set_prio.given = true;
      if (AcceptPunct("(")) {
        o.set_prio.prio = PrioValue();
        AcceptPunct(",");
        o.set_prio.prio2 = PrioValue();
        if (!AcceptPunct(")")) SyntaxError();
      } else {
        o.set_prio.prio = PrioValue();
      }
    } else if (AcceptWord("tos")) {
      o.set_tos = TosValue();
    } else if (AcceptWord("queue")) {
      Fail("queueing (set queue) is not supported on hapf");
    } else if (AcceptWord("delay")) {
      Fail("set delay is not supported on hapf");
    } else {
      SyntaxError();
    }
  };
  if (AcceptPunct("(")) {
    for (;;) {
      one();
      if (AcceptPunct(")")) break;
      if (!AcceptPunct(",")) SyntaxError();
    }
  } else {
    one();
  }
}

void Parser::StateOpts(StateOptions& st, bool bare) {
  if (!bare && !AcceptPunct("(")) return;
  auto number = [&] {
    int64_t v = ExpectNumber();
    if (v < 0 || v > UINT32_MAX) Fail("only positive values permitted");
    return static_cast<uint32_t>(v);
  };
  bool explicit_track = false;
  for (;;) {
    const Token t = Peek();
    if (t.kind != TokKind::kWord) SyntaxError();
    std::string w = Take().text;
    if (w == "max") {
      if (st.max) Fail("state option 'max' multiple definitions");
      st.max = number();
    } else if (w == "no-sync") {
      st.no_sync = true;
    } else if (w == "source-track") {
      if (explicit_track) Fail("state option 'source-track' multiple definitions");
      explicit_track = true;
      if (AcceptWord("rule")) st.source_track = SourceTrack::kRule;
      else {
        AcceptWord("global");
        st.source_track = SourceTrack::kGlobal;
      }
    } else if (w == "max-src-states") {
      st.max_src_states = number();
    } else if (w == "max-src-nodes") {
      st.max_src_nodes = number();
    } else if (w == "max-src-conn") {
      st.max_src_conn = number();
    } else if (w == "max-src-conn-rate") {
      uint32_t a = number();
      if (!AcceptPunct("/")) SyntaxError();
      uint32_t b = number();
      st.max_src_conn_rate = std::make_pair(a, b);
    } else if (w == "overload") {
      if (!AcceptPunct("<")) SyntaxError();
      st.overload_table = ExpectStringOrNumber();
      if (!AcceptPunct(">")) SyntaxError();
      if (st.overload_table.size() >= 32) Fail("table name too long");
      if (AcceptWord("flush")) {
        st.overload_flush = true;
        if (AcceptWord("global")) st.overload_flush_global = true;
      }
    } else if (w == "if-bound") {
      st.if_bound = true;
    } else if (w == "floating") {
      st.floating = true;
    } else if (w == "sloppy") {
      st.sloppy = true;
    } else if (w == "pflow") {
      st.pflow = true;
    } else {
      std::optional<TimeoutKind> k = TimeoutByName(w);
      bool found = k && *k != TimeoutKind::kTcpTsDiff;
      if (found) st.timeouts.push_back({*k, number()});
      if (!found) Fail("illegal timeout name " + w);
    }
    if (bare ? AtEnd() : AcceptPunct(")")) break;
    if (!AcceptPunct(",")) SyntaxError();
  }
  if (st.if_bound && st.floating) Fail("if-bound and floating are mutually exclusive");
  // Source tracking: limits per source need rule-local tracking.
  if (st.max_src_nodes || st.max_src_conn || st.max_src_conn_rate ||
      (st.max_src_states && !explicit_track))
    if (!(explicit_track && st.source_track == SourceTrack::kGlobal && !st.max_src_nodes &&
          !st.max_src_conn && !st.max_src_conn_rate))
      st.source_track = SourceTrack::kRule;
  if (st.max_src_conn_rate) {
    bool has = std::any_of(st.timeouts.begin(), st.timeouts.end(),
                           [](const Timeout& t) { return t.kind == TimeoutKind::kSrcTrack; });
    if (!has) st.timeouts.push_back({TimeoutKind::kSrcTrack, st.max_src_conn_rate->second});
  }
  if (st.max) {
    bool has = std::any_of(st.timeouts.begin(), st.timeouts.end(), [](const Timeout& t) {
      return t.kind == TimeoutKind::kAdaptiveStart || t.kind == TimeoutKind::kAdaptiveEnd;
    });
    if (!has) {
      // pfctl's rounding: (max / 10) * 6, so a max below 10 leaves the rule
      // on the global thresholds instead of expiring its states at max.
      st.timeouts.push_back({TimeoutKind::kAdaptiveStart, *st.max / 10 * 6});
      st.timeouts.push_back({TimeoutKind::kAdaptiveEnd, *st.max / 10 * 12});
    }
  }
}

void Parser::ScrubOpts(ScrubOptions& sc) {
  if (!AcceptPunct("(")) SyntaxError();
  sc.given = true;
  for (;;) {
    if (AcceptPunct(")")) break;
    if (AcceptPunct(",")) continue;
    if (AcceptWord("no-df")) {
      if (sc.no_df) Fail("no-df cannot be respecified");
      sc.no_df = true;
    } else if (AcceptWord("min-ttl")) {
      int64_t v = ExpectNumber();
      if (sc.min_ttl) Fail("min-ttl cannot be respecified");
      if (v < 0 || v > 255) Fail("illegal min-ttl value " + std::to_string(v));
      sc.min_ttl = static_cast<uint8_t>(v);
    } else if (AcceptWord("max-mss")) {
      int64_t v = ExpectNumber();
      if (sc.max_mss) Fail("max-mss cannot be respecified");
      if (v < 0 || v > 65535) Fail("illegal max-mss value " + std::to_string(v));
      sc.max_mss = static_cast<uint16_t>(v);
    } else if (AcceptWord("random-id")) {
      if (sc.random_id) Fail("random-id cannot be respecified");
      sc.random_id = true;
    } else if (AcceptWord("reassemble")) {
      if (!AcceptWord("tcp")) SyntaxError();
      if (sc.reassemble_tcp) Fail("reassemble tcp cannot be respecified");
      sc.reassemble_tcp = true;
    } else {
      SyntaxError();
    }
  }
}

void Parser::PoolOptions(PoolSpec& p) {
  for (;;) {
    const Token t = Peek();
    if (t.kind != TokKind::kWord) return;
    const std::string& w = t.text;
    auto set_type = [&](PoolType ty) {
      if (p.type != PoolType::kNone) Fail("pool type cannot be redefined");
      p.type = ty;
    };
    static const std::pair<const char*, PoolType> kTypes[] = {
        {"bitmask", PoolType::kBitmask}, {"random", PoolType::kRandom},
        {"round-robin", PoolType::kRoundRobin}, {"least-states", PoolType::kLeastStates}};
    auto simple = std::find_if(std::begin(kTypes), std::end(kTypes),
                               [&](const auto& e) { return w == e.first; });
    if (simple != std::end(kTypes)) {
      PoolType ty = simple->second;
      Take();
      set_type(ty);
    } else if (w == "source-hash") {
      Take();
      set_type(PoolType::kSourceHash);
      const Token k = Peek();
      static const std::set<std::string> kPoolWords = {"bitmask", "random", "round-robin",
                                                       "least-states", "sticky-address", "static-port"};
      if (k.IsString() && !(k.kind == TokKind::kWord && (kPoolWords.count(k.text) || Keywords().count(k.text)))) {
        std::string key = Take().text;
        p.has_key = true;
        if (key.size() == 34 && key[0] == '0' && key[1] == 'x') {
          for (size_t i = 0; i < 16; ++i) {
            std::string byte = key.substr(2 + 2 * i, 2);
            uint64_t v;
            if (!std::isxdigit(static_cast<unsigned char>(byte[0])) ||
                !std::isxdigit(static_cast<unsigned char>(byte[1])) || !ParseUnsigned(byte, v, 16))
              Fail("hex key must be 128 bits (32 hex digits) long");
            p.key[i] = static_cast<uint8_t>(v);
          }
        } else if (key.size() > 2 && key[0] == '0' && key[1] == 'x') {
          Fail("hex key must be 128 bits (32 hex digits) long");
        } else {
          unsigned int len = 0;
          EVP_Digest(key.data(), key.size(), p.key.data(), &len, EVP_md5(), nullptr);
        }
      }
    } else if (w == "sticky-address") {
      Take();
      if (p.sticky) Fail("sticky-address cannot be redefined");
      p.sticky = true;
    } else if (w == "static-port") {
      Take();
      if (p.static_port) Fail("static-port cannot be redefined");
      p.static_port = true;
    } else {
      return;
    }
  }
}

void Parser::Redirspec(PoolSpec& p, bool with_port, bool with_opts) {
  if (p.given) Fail("redirection address cannot be redefined");
  p.given = true;
  p.hosts = HostList();
  if (with_port && AcceptWord("port")) {
    std::string s = ExpectStringOrNumber();
    if (size_t colon = s.find(':'); colon != std::string::npos) {
      p.port_low = PortNumber(s.substr(0, colon));
      std::string hi = s.substr(colon + 1);
      if (hi == "*") {
        p.port_star = true;
        p.port_high = 0;
      } else {
        p.port_high = PortNumber(hi);
      }
    } else {
      p.port_low = p.port_high = PortNumber(s);
    }
  }
  if (with_opts) PoolOptions(p);
}

std::string Parser::TagString(const char* what) {
  const Token t = Peek();
  if (!t.IsString()) SyntaxError();
  std::string s = Take().text;
  if (s.size() > 63) Fail(std::string(what) + " too long, max 63 chars");
  return s;
}

void Parser::FilterOptions(FilterOpts& o, bool is_anchor) {
  (void)is_anchor;
  for (;;) {
    if (AtEnd() || Peek().Is("{")) return;
    const Token t = Peek();
    if (t.Is("!")) {
      Take();
      if (AcceptWord("tagged")) {
        o.tagged_negated = true;
        o.tagged = TagString("tag");
        continue;
      }
      if (AcceptWord("received-on")) {
        o.received_on_negated = true;
        o.received_on = ExpectString();
        continue;
      }
      SyntaxError();
    }
    if (t.kind != TokKind::kWord) SyntaxError();
    std::string w = Take().text;
    if (w == "user") {
      auto v = IdList(true);
      o.uids.insert(o.uids.begin(), v.begin(), v.end());
    } else if (w == "group") {
      auto v = IdList(false);
      o.gids.insert(o.gids.begin(), v.begin(), v.end());
    } else if (w == "flags") {
      if (o.flags_given) Fail("flags cannot be redefined");
      o.flags_given = true;
      FlagsSpec(o.flags);
    } else if (w == "icmp-type" || w == "icmp6-type") {
      if (!o.icmps.empty()) Fail("icmp-type cannot be redefined");
      IcmpList(o.icmps, w == "icmp6-type");
    } else if (w == "tos") {
      if (o.tos) Fail("tos cannot be redefined");
      o.tos = TosValue();
    } else if (w == "keep" || w == "modulate" || w == "synproxy") {
      if (!AcceptWord("state")) SyntaxError();
      if (o.state_given) Fail("state options cannot be redefined");
      o.state_given = true;
      o.state.kind = w == "keep" ? StateKind::kKeep : w == "modulate" ? StateKind::kModulate : StateKind::kSynproxy;
      o.state.explicit_keep = true;
      StateOpts(o.state);
    } else if (w == "no") {
      if (!AcceptWord("state")) SyntaxError();
      if (o.state_given) Fail("state options cannot be redefined");
      o.state_given = true;
      o.state.kind = StateKind::kNone;
    } else if (w == "fragment") {
      o.fragment = true;
    } else if (w == "allow-opts") {
      o.allow_opts = true;
    } else if (w == "label") {
      if (o.label_given) Fail("label cannot be redefined");
      o.label_given = true;
      o.label = TagString("label");
    } else if (w == "tag") {
      if (!o.tag.empty()) Fail("tag cannot be redefined");
      o.tag = TagString("tag");
    } else if (w == "tagged") {
      if (!o.tagged.empty()) Fail("tagged cannot be redefined");
      o.tagged = TagString("tag");
    } else if (w == "set") {
      SetSpec(o);
    } else if (w == "prio") {
      if (o.prio) Fail("prio cannot be redefined");
      o.prio = PrioValue();
    } else if (w == "probability") {
      std::string v = ExpectStringOrNumber();
      char* end = nullptr;
      double p = std::strtod(v.c_str(), &end);
      if (*end == '%') {
        p *= 0.01;
        ++end;
      }
      if (*end || !(p > 0.0) || p > 1.0) Fail("invalid probability: " + v);
      o.probability = static_cast<uint32_t>(std::floor(p * 4294967295.0 + 0.5));
    } else if (w == "once") {
      o.once = true;
    } else if (w == "received-on") {
      o.received_on = ExpectString();
    } else if (w == "max-pkt-rate") {
      int64_t n = ExpectNumber();
      if (!AcceptPunct("/")) SyntaxError();
      int64_t s = ExpectNumber();
      if (n < 0 || s < 0 || n > UINT32_MAX || s > UINT32_MAX) Fail("only positive values permitted");
      o.pkt_rate = static_cast<uint32_t>(n);
      o.pkt_rate_seconds = static_cast<uint32_t>(s);
    } else if (w == "scrub") {
      ScrubOpts(o.scrub);
    } else if (w == "nat-to") {
      Redirspec(o.nat, true, true);
    } else if (w == "rdr-to") {
      Redirspec(o.rdr, true, true);
    } else if (w == "binat-to") {
      Redirspec(o.binat, false, true);
    } else if (w == "af-to") {
      if (AcceptWord("inet")) o.afto = Family::kV4;
      else if (AcceptWord("inet6")) o.afto = Family::kV6;
      else SyntaxError();
      if (!AcceptWord("from")) SyntaxError();
      Redirspec(o.afto_from, true, true);
      if (AcceptWord("to")) Redirspec(o.afto_to, true, true);
    } else if (w == "route-to" || w == "reply-to" || w == "dup-to") {
      if (o.route_kind != RouteKind::kNone) Fail("route-to, reply-to and dup-to cannot be combined");
      o.route_kind = w == "route-to" ? RouteKind::kRouteTo : w == "reply-to" ? RouteKind::kReplyTo : RouteKind::kDupTo;
      Redirspec(o.route, false, true);
    } else if (w == "divert-to") {
      ++o.divert_count;
      HostList();
      if (!AcceptWord("port")) SyntaxError();
      PortNumber(ExpectStringOrNumber());
      if (o.unsupported.empty()) o.unsupported = "divert-to";
    } else if (w == "divert-reply") {
      ++o.divert_count;
      o.divert_reply = true;
      if (o.unsupported.empty()) o.unsupported = "divert-reply";
    } else if (w == "divert-packet") {
      ++o.divert_count;
      if (!AcceptWord("port")) SyntaxError();
      PortNumber(ExpectStringOrNumber());
      if (o.unsupported.empty()) o.unsupported = "divert-packet";
    } else if (w == "rtable") {
      ExpectNumber();
      if (o.unsupported.empty()) o.unsupported = "rtable";
    } else if (w == "os") {
      ExpectStringOrNumber();
      if (o.unsupported.empty()) o.unsupported = "os fingerprints";
    } else if (w == "queue") {
      if (o.unsupported.empty()) o.unsupported = "queue";
      if (AcceptPunct("(")) {
        while (!AcceptPunct(")")) {
          if (AtEnd()) SyntaxError();
          Take();
        }
      } else {
        ExpectString();
      }
    } else {
      // Put the word back so the error points at it.
      ahead_.push_front(Token{TokKind::kWord, w, 0, t.line});
      SyntaxError();
    }
  }
}

// ------------------------------------------------------------------ rules

void Parser::RuleStatement(Ruleset& rs, int depth) {
  RuleSpec spec;
  Rule& r = spec.base;
  std::string action = Take().text;
  const bool is_anchor = action == "anchor";
  if (action == "pass") r.action = Action::kPass;
  else if (action == "block") r.action = Action::kBlock;
  else if (action == "match") r.action = Action::kMatch;
  else r.action = Action::kAnchor;

  if (is_anchor) {
    const Token t = Peek();
    static const std::set<std::string> kNotName = {"in", "out", "on", "inet", "inet6", "proto", "from",
                                                   "to", "all", "log", "quick"};
    if (t.kind == TokKind::kQuoted || t.kind == TokKind::kNumber ||
        (t.kind == TokKind::kWord && !kNotName.count(t.text))) {
      r.anchor_name = Take().text;
      if (r.anchor_name.empty()) Fail("anchor name must not be empty");
      if (r.anchor_name.size() >= 1024) Fail("anchor name too long");
      if (r.anchor_name.size() >= 2 && r.anchor_name.compare(r.anchor_name.size() - 2, 2, "/*") == 0)
        r.anchor_wildcard = true;
    }
  }
  if (r.action == Action::kBlock) {
    r.block = block_policy_return_ ? BlockPolicy::kReturn : BlockPolicy::kDrop;
    const Token t = Peek();
    if (t.IsWord("drop")) {
      Take();
      r.block = BlockPolicy::kDrop;
    } else if (t.IsWord("return")) {
      Take();
      r.block = BlockPolicy::kReturn;
    } else if (t.IsWord("return-rst")) {
      Take();
      r.block = BlockPolicy::kReturnRst;
      if (AcceptPunct("(")) {
        if (!AcceptWord("ttl")) SyntaxError();
        int64_t ttl = ExpectNumber();
        if (ttl < 0 || ttl > 255) Fail("illegal ttl value " + std::to_string(ttl));
        r.return_ttl = static_cast<uint8_t>(ttl);
        if (!AcceptPunct(")")) SyntaxError();
      }
    } else if (t.IsWord("return-icmp") || t.IsWord("return-icmp6")) {
      bool v6 = Take().text == "return-icmp6";
      r.block = BlockPolicy::kReturnIcmp;
      r.return_icmp = 3;
      r.return_icmp6 = 4;
      auto code = [&](bool six) -> uint8_t {
        std::string c = ExpectStringOrNumber();
        uint64_t n;
        if (ParseUnsigned(c, n, 10)) {
          if (n > 255) Fail("illegal icmp code " + c);
          return static_cast<uint8_t>(n);
        }
        std::optional<IcmpCode> ic = IcmpCodeByName(c, six);
        if (!ic || ic->type != (six ? 1 : 3)) Fail("unknown icmp code " + c);
        return ic->code;
      };
      if (AcceptPunct("(")) {
        if (v6) {
          r.return_icmp6 = code(true);
        } else {
          r.return_icmp = code(false);
          if (AcceptPunct(",")) r.return_icmp6 = code(true);
        }
        if (!AcceptPunct(")")) SyntaxError();
      }
    }
  }
  if (AcceptWord("in")) r.direction = Direction::kIn;
  else if (AcceptWord("out")) r.direction = Direction::kOut;
  for (bool seen_log = false, seen_quick = false;;) {
    if (!seen_log && AcceptWord("log")) {
      seen_log = true;
      LogOpts(r.log);
    } else if (!seen_quick && AcceptWord("quick")) {
      seen_quick = true;
      r.quick = true;
    } else {
      break;
    }
  }
  if (AcceptWord("on")) spec.ifaces = InterfaceList();
  if (AcceptWord("inet")) r.af = Family::kV4;
  else if (AcceptWord("inet6")) r.af = Family::kV6;
  if (AcceptWord("proto")) spec.protos = ProtoList();
  if (AcceptWord("all")) {
  } else {
    if (AcceptWord("from")) {
      if (!Peek().IsWord("port")) spec.src_hosts = HostList();
      if (AcceptWord("port")) spec.src_ports = PortList();
      if (Peek().IsWord("os")) {
        Take();
        ExpectStringOrNumber();
        spec.opts.unsupported = "os fingerprints";
      }
    }
    if (AcceptWord("to")) {
      if (!Peek().IsWord("port")) spec.dst_hosts = HostList();
      if (AcceptWord("port")) spec.dst_ports = PortList();
    }
  }
  FilterOptions(spec.opts, is_anchor);
  std::shared_ptr<Ruleset> body;
  if (is_anchor && Peek().Is("{")) {
    Take();
    if (depth + 1 > opts_.max_anchor_depth) Fail("anchor nesting too deep");
    if (!r.anchor_name.empty() && r.anchor_name.find('/') != std::string::npos && r.anchor_name[0] != '/')
      Fail("anchor names containing '/' cannot be used with inline rules");
    body = std::make_shared<Ruleset>();
    Ruleset* saved_top = top_;
    ++brace_depth_;
    Statements(*body, depth + 1);
    --brace_depth_;
    top_ = saved_top;
    if (!AcceptPunct("}")) SyntaxError();
  }
  ExpectEnd();
  FilterOpts& o = spec.opts;
  if (is_anchor && o.state_given) Fail("cannot specify state handling on anchors");
  if (o.afto != Family::kNone && o.route_kind != RouteKind::kNone)
    Fail("af-to cannot be used together with route-to, reply-to, dup-to");
  if (o.divert_count > 1) Fail("more than one divert option");
  if (o.divert_reply && r.direction == Direction::kIn) Fail("divert-reply used with incoming rule");
  if (!o.unsupported.empty()) Fail(o.unsupported + " is not supported on hapf");
  if ((o.nat.given || o.rdr.given || o.binat.given || o.afto != Family::kNone) && is_anchor)
    Fail("translation rules cannot be anchors");
  if (int(o.nat.given) + int(o.rdr.given) + int(o.binat.given) + int(o.afto != Family::kNone) > 1)
    Fail("nat-to, rdr-to, binat-to and af-to cannot be combined");
  if (o.afto != Family::kNone && r.af == Family::kNone) Fail("af-to can only be used with an address family");
  if (o.afto != Family::kNone && r.direction != Direction::kIn) Fail("af-to can only be used with direction in");
  if (o.binat.given && r.direction != Direction::kBoth) Fail("binat-to cannot be used with a direction");
  if (o.rdr.given && r.direction == Direction::kOut) Fail("rdr-to can only be used inbound");
  if (o.nat.given && r.direction == Direction::kIn) Fail("nat-to can only be used outbound");

  r.anchor_body = body;
  Expand(rs, spec, Peek().line);
}

void Parser::Antispoof(Ruleset& rs) {
  Take();
  LogOptions log;
  bool quick = false;
  for (bool seen_log = false, seen_quick = false;;) {
    if (!seen_log && AcceptWord("log")) {
      seen_log = true;
      LogOpts(log);
    } else if (!seen_quick && AcceptWord("quick")) {
      seen_quick = true;
      quick = true;
    } else {
      break;
    }
  }
  if (!AcceptWord("for")) SyntaxError();
  struct Target {
    std::string name;
    bool dynamic;
  };
  std::vector<Target> targets;
  List([&] {
    if (AcceptPunct("(")) {
      std::string n = ExpectString();
      if (!AcceptPunct(")")) SyntaxError();
      targets.push_back({n, true});
    } else {
      targets.push_back({ExpectString(), false});
    }
  });
  Family af = Family::kNone;
  if (AcceptWord("inet")) af = Family::kV4;
  else if (AcceptWord("inet6")) af = Family::kV6;
  std::string label;
  if (AcceptWord("label")) label = TagString("label");
  ExpectEnd();
  int line = Peek().line;
  for (const Target& t : targets) {
    bool loopback = false;
    for (const InterfaceInfo& i : env_.Interfaces())
      if (i.name == t.name) loopback = i.loopback;
    for (int pass = 0; pass < (loopback ? 1 : 2); ++pass) {
      RuleSpec spec;
      Rule& r = spec.base;
      r.action = Action::kBlock;
      r.block = BlockPolicy::kDrop;
      r.direction = Direction::kIn;
      r.log = log;
      r.quick = quick;
      r.af = af;
      spec.opts.label = label;
      spec.opts.state.kind = StateKind::kNone;
      spec.opts.state_given = true;
      spec.ifaces.push_back({t.name, pass == 0});
      if (t.dynamic) {
        HostNode n;
        n.addr.kind = AddrKind::kDynamic;
        n.addr.name = t.name;
        n.addr.modifier = pass == 0 ? IfaceModifier::kNetwork : IfaceModifier::kNone;
        spec.src_hosts.push_back(n);
      } else {
        spec.src_hosts = IfaLookup(t.name, pass == 0 ? IfaceModifier::kNetwork : IfaceModifier::kNone);
        if (spec.src_hosts.empty()) continue;
      }
      Expand(rs, spec, line);
    }
  }
}

std::string Parser::ExpandLabel(const std::string& label, const Rule& r, int nr) const {
  if (label.find('$') == std::string::npos) return label;
  auto replace_all = [](std::string s, const std::string& what, const std::string& with) {
    for (size_t pos = 0; (pos = s.find(what, pos)) != std::string::npos; pos += with.size())
      s.replace(pos, what.size(), with);
    return s;
  };
  auto port_text = [](const PortRange& p) -> std::string {
    std::string a = std::to_string(p.low), b = std::to_string(p.high);
    switch (p.op) {
      case RangeOp::kExcept: return a + "><" + b;
      case RangeOp::kOutside: return a + "<>" + b;
      case RangeOp::kEq: return a;
      case RangeOp::kNe: return "!=" + a;
      case RangeOp::kLt: return "<" + a;
      case RangeOp::kLe: return "<=" + a;
      case RangeOp::kGt: return ">" + a;
      case RangeOp::kGe: return ">=" + a;
      default: return "";
    }
  };
  auto addr_text = [&](const Address& a) {
    return std::string(a.negated ? "! " : "") + FormatAddress(a, r.af);
  };
  std::string s = label;
  s = replace_all(s, "$if", r.interface.name.empty() ? "any" : r.interface.name);
  s = replace_all(s, "$srcaddr", addr_text(r.src));
  s = replace_all(s, "$dstaddr", addr_text(r.dst));
  s = replace_all(s, "$srcport", port_text(r.src_port));
  s = replace_all(s, "$dstport", port_text(r.dst_port));
  // Like pfctl's getprotobynumber(): no protocol is protocol 0, "ip".
  uint8_t pnum = r.proto.value_or(0);
  std::string_view pname = ProtocolName(pnum);
  std::string proto = pname.empty() ? std::to_string(pnum) : std::string(pname);
  s = replace_all(s, "$proto", proto);
  s = replace_all(s, "$nr", std::to_string(nr));
  return s;
}

bool Parser::ResolvePool(const PoolSpec& spec, Family& af, Pool& out, Ruleset& rs, int line,
                         bool for_binat_src) {
  (void)for_binat_src;
  (void)rs;
  (void)line;
  out = Pool{};
  std::vector<Address> addrs;
  for (const HostNode& h : spec.hosts) {
    Family f = h.addr.family();
    if (af != Family::kNone && f != Family::kNone && f != af) continue;
    addrs.push_back(h.addr);
  }
  if (addrs.empty()) return false;
  if (af == Family::kNone)
    for (const Address& a : addrs)
      if (a.family() != Family::kNone) {
        af = a.family();
        break;
      }
  out.port_low = spec.port_low;
  out.port_high = spec.port_high;
  out.type = spec.type;
  out.has_key = spec.has_key;
  out.key = spec.key;
  out.sticky_address = spec.sticky;
  out.static_port = spec.static_port;
  if (addrs.size() > 1) {
    // Lists become an automatic constant table, as pfctl does.
    Table t;
    t.name = "__automatic_" + std::to_string(automatic_tables_++);
    t.is_const = true;
    t.automatic = true;
    TableSource src;
    for (const Address& a : addrs) {
      if (a.kind != AddrKind::kPrefix) {
        ErrorAt(line, "tables and dynamic addresses cannot be used in lists");
        return false;
      }
      TableEntry e{a.prefix, a.negated};
      src.entries.push_back(e);
      t.entries.push_back(e);
    }
    t.sources.push_back(src);
    t.line = line;
    top_->tables.push_back(t);
    top_->preamble.push_back({PreambleKind::kTable, top_->tables.size() - 1});
    Address ta;
    ta.kind = AddrKind::kTable;
    ta.name = t.name;
    addrs = {ta};
  }
  out.addrs = addrs;
  AddrKind k = addrs[0].kind;
  if (out.type == PoolType::kNone && (k == AddrKind::kTable || k == AddrKind::kDynamic))
    out.type = PoolType::kRoundRobin;
  return true;
}

void Parser::Expand(Ruleset& rs, RuleSpec& spec, int line) {
  FilterOpts& o = spec.opts;
  std::vector<InterfaceSpec> ifaces = spec.ifaces.empty() ? std::vector<InterfaceSpec>{{}} : spec.ifaces;
  std::vector<uint8_t> protos = spec.protos.empty() ? std::vector<uint8_t>{0} : spec.protos;
  std::vector<HostNode> srcs = spec.src_hosts.empty() ? std::vector<HostNode>{{}} : spec.src_hosts;
  std::vector<HostNode> dsts = spec.dst_hosts.empty() ? std::vector<HostNode>{{}} : spec.dst_hosts;
  std::vector<PortRange> sports = spec.src_ports.empty() ? std::vector<PortRange>{{}} : spec.src_ports;
  std::vector<PortRange> dports = spec.dst_ports.empty() ? std::vector<PortRange>{{}} : spec.dst_ports;
  std::vector<IdRange> uids = o.uids.empty() ? std::vector<IdRange>{{}} : o.uids;
  std::vector<IdRange> gids = o.gids.empty() ? std::vector<IdRange>{{}} : o.gids;
  std::vector<IcmpSpec> icmps = o.icmps.empty() ? std::vector<IcmpSpec>{{}} : o.icmps;
  size_t combos = 1;
  for (size_t n : {ifaces.size(), protos.size(), srcs.size(), dsts.size(), sports.size(), dports.size(),
                   uids.size(), gids.size(), icmps.size()}) {
    combos *= n;
    if (combos > opts_.max_rules_per_statement) {
      ErrorAt(line, "rule expands to too many rules");
      return;
    }
  }
  if (total_rules_ + combos > opts_.max_rules) {
    ErrorAt(line, "too many rules");
    return;
  }
  int added = 0;
  for (const InterfaceSpec& ifc : ifaces)
  for (uint8_t proto : protos)
  for (const HostNode& src : srcs)
  for (const PortRange& sport : sports)
  for (const HostNode& dst : dsts)
  for (const PortRange& dport : dports)
  for (const IdRange& uid : uids)
  for (const IdRange& gid : gids)
  for (const IcmpSpec& icmp : icmps) {
    Rule r = spec.base;
    r.line = line;
    r.interface = ifc;
    if (proto) r.proto = proto;
    r.src = src.addr;
    r.dst = dst.addr;
    r.src_port = sport;
    r.dst_port = dport;
    r.uid = uid;
    r.gid = gid;
    Family sf = src.addr.family(), df = dst.addr.family();
    if ((r.af != Family::kNone && sf != Family::kNone && sf != r.af) ||
        (r.af != Family::kNone && df != Family::kNone && df != r.af) ||
        (sf != Family::kNone && df != Family::kNone && sf != df))
      continue;
    if (r.af == Family::kNone) r.af = sf != Family::kNone ? sf : df;
    if (src.bad_v4_mask || dst.bad_v4_mask) {
      Raw("netmask " + std::to_string(src.bad_v4_mask ? src.bad_v4_mask : dst.bad_v4_mask) +
          " invalid for IPv4 address");
      ErrorAt(line, "skipping rule due to errors");
      continue;
    }
    // A scoped link-local address names its interface.
    for (const HostNode* h : {&src, &dst}) {
      if (h->scope_if.empty()) continue;
      if (r.interface.name.empty()) r.interface.name = h->scope_if;
    }
    bool error = false;
    if (icmp.type) {
      uint8_t want = icmp.v6 ? 58 : 1;
      if (proto != want) {
        ErrorAt(line, "icmp-type mismatch");
        error = true;
      }
      r.icmp = icmp;
    }
    r.tos = o.tos;
    r.fragment = o.fragment;
    r.allow_opts = o.allow_opts;
    r.tag = o.tag;
    r.tagged = o.tagged;
    r.tagged_negated = o.tagged_negated;
    r.prio = o.prio;
    r.set_prio = o.set_prio;
    r.set_tos = o.set_tos;
    r.once = o.once;
    r.probability = o.probability;
    r.received_on = o.received_on;
    r.received_on_negated = o.received_on_negated;
    r.max_pkt_rate_packets = o.pkt_rate;
    r.max_pkt_rate_seconds = o.pkt_rate_seconds;
    r.scrub = o.scrub;
    if (o.state_given) r.state = o.state;
    else r.state.kind = r.action == Action::kPass ? StateKind::kKeep : StateKind::kNone;
    if (r.action == Action::kPass && r.state.kind != StateKind::kNone) {
      // Rules without their own state options take `set state-defaults`.
      if (state_defaults_ && !o.state.explicit_keep) {
        StateKind kind = r.state.kind;
        r.state = *state_defaults_;
        r.state.kind = kind;
      }
      if (default_if_bound_ && !r.state.if_bound && !r.state.floating) r.state.if_bound = true;
    }
    if (r.action == Action::kAnchor) r.state.kind = StateKind::kNone;
    // TCP flags: S/SA by default on stateful pass rules; only meaningful for TCP.
    if (o.flags_given) r.flags = o.flags;
    else if (r.action == Action::kPass && r.state.kind != StateKind::kNone && !o.fragment)
      r.flags = TcpFlags{true, false, 0x02, 0x12};
    if (proto && proto != 6) r.flags = TcpFlags{};

    // Translation and routing pools.
    Family af = r.af;
    bool pool_ok = true;
    if (o.nat.given) pool_ok &= ResolvePool(o.nat, af, r.nat, rs, line, false);
    if (o.rdr.given) pool_ok &= ResolvePool(o.rdr, af, r.rdr, rs, line, false);
    Pool binat_pool;
    if (o.binat.given) pool_ok &= ResolvePool(o.binat, af, binat_pool, rs, line, false);
    if (o.route_kind != RouteKind::kNone) {
      r.route_kind = o.route_kind;
      pool_ok &= ResolvePool(o.route, af, r.route, rs, line, false);
    }
    if (o.afto != Family::kNone) {
      AfTo a;
      a.af = o.afto;
      Family naf = o.afto;
      pool_ok &= ResolvePool(o.afto_from, naf, a.from, rs, line, false);
      if (o.afto_to.given) pool_ok &= ResolvePool(o.afto_to, naf, a.to, rs, line, false);
      r.af_to = a;
    }
    if (!pool_ok) continue;
    r.af = af;
    if (o.rdr.given && o.rdr.port_star && dport.op == RangeOp::kInclusive)
      r.rdr.port_high = static_cast<uint16_t>(r.rdr.port_low + (dport.high - dport.low));
    else if (o.rdr.given && o.rdr.port_star)
      r.rdr.port_high = r.rdr.port_low;

    // Consistency checks (pfctl's rule_consistent).
    if ((sport.op != RangeOp::kNone || dport.op != RangeOp::kNone) && proto != 6 && proto != 17) {
      ErrorAt(line, "port only applies to tcp/udp");
      error = true;
    }
    if (icmp.type && proto != 1 && proto != 58 && !error) {
      ErrorAt(line, "icmp-type/code only applies to icmp");
      error = true;
    }
    if (icmp.type && r.af == Family::kNone) {
      ErrorAt(line, "must indicate address family with icmp-type/code");
      error = true;
    }
    if ((proto == 1 && r.af == Family::kV6) || (proto == 58 && r.af == Family::kV4)) {
      ErrorAt(line, std::string("proto ") + (proto == 1 ? "icmp" : "ipv6-icmp") +
                        " doesn't match address family " + (r.af == Family::kV4 ? "inet" : "inet6"));
      error = true;
    }
    if (!r.state.overload_table.empty() && !r.state.max_src_conn && !r.state.max_src_conn_rate) {
      ErrorAt(line, "'overload' requires 'max-src-conn' or 'max-src-conn-rate'");
      error = true;
    }
    if (r.af_to && r.af_to->af == r.af) {
      ErrorAt(line, "must indicate different address family with af-to");
      error = true;
    }
    if (o.binat.given) {
      const Address& s = r.src;
      if (s.kind == AddrKind::kTable) {
        ErrorAt(line, "invalid use of table <" + s.name + "> as the source address of a binat-to rule");
        error = true;
      } else {
        const Address& b = binat_pool.addrs.empty() ? Address{} : binat_pool.addrs[0];
        if (s.kind != AddrKind::kPrefix || b.kind != AddrKind::kPrefix)
          ErrorAt(line, "binat-to requires a specified source and redirect address"), error = true;
        int sm = s.kind == AddrKind::kPrefix ? s.prefix.len : -1;
        int bm = b.kind == AddrKind::kPrefix ? b.prefix.len : -1;
        if (sm != bm)
          ErrorAt(line, "source and redir addresess must have a matching network mask in binat-rule"), error = true;
        if (b.kind == AddrKind::kTable)
          ErrorAt(line, "tables cannot be used as the redirect address of a binat-to rule"), error = true;
      }
    }
    if (error) {
      ErrorAt(line, "skipping rule due to errors");
      continue;
    }
    if (o.label_given) r.label = ExpandLabel(o.label, r, static_cast<int>(rs.rules.size()));
    r.number = static_cast<int>(rs.rules.size());
    if (o.binat.given) {
      Rule out = r, in = r;
      out.direction = Direction::kOut;
      out.nat = binat_pool;
      out.nat.static_port = true;
      out.binat = true;
      in.direction = Direction::kIn;
      in.src = r.dst;
      in.src_port = r.dst_port;
      in.dst = binat_pool.addrs[0];
      in.dst.negated = false;
      in.dst_port = r.src_port;
      in.rdr = Pool{};
      in.rdr.addrs = {r.src};
      in.rdr.addrs[0].negated = false;
      in.binat = true;
      in.number = out.number + 1;
      rs.rules.push_back(out);
      rs.rules.push_back(in);
      total_rules_ += 2;
    } else {
      rs.rules.push_back(r);
      ++total_rules_;
    }
    ++added;
  }
  if (!added) ErrorAt(line, "rule expands to no valid combination");
}

// ------------------------------------------------------------------ tables

void Parser::TableDef(Ruleset& rs) {
  Take();
  if (!AcceptPunct("<")) SyntaxError();
  Table t;
  t.name = ExpectStringOrNumber();
  if (!AcceptPunct(">")) SyntaxError();
  if (t.name.size() >= 32) Fail("table name too long");
  t.line = Peek().line;
  auto entry = [&](TableSource& src, bool from_file, const std::string& file_text_item) {
    std::vector<HostNode> nodes;
    if (from_file) {
      std::string s = file_text_item;
      bool neg = false;
      if (!s.empty() && s[0] == '!') {
        neg = true;
        s.erase(0, 1);
      }
      std::optional<std::vector<HostNode>> r = ResolveHost(s);
      if (!r) Fail("could not parse host specification");
      for (HostNode& n : *r) n.addr.negated = neg;
      nodes = std::move(*r);
    } else {
      const Token tk = Peek();
      bool neg = tk.Is("!");
      if (neg) {
        if (Peek(1).Is("<")) Fail("tables cannot contain tables");
      }
      if (tk.Is("<")) Fail("tables cannot contain tables");
      if (tk.Is("(") || (neg && Peek(1).Is("("))) Fail("dynamic addresses are not permitted inside tables");
      if (tk.IsWord("no-route") || (neg && Peek(1).IsWord("no-route")))
        Fail("\"no-route\" is not permitted inside tables");
      if (tk.IsWord("urpf-failed") || (neg && Peek(1).IsWord("urpf-failed")))
        Fail("\"urpf-failed\" is not permitted inside tables");
      HostItem(nodes);
    }
    for (const HostNode& n : nodes) {
      if (n.addr.kind != AddrKind::kPrefix) Fail("invalid table entry");
      TableEntry e{n.addr.prefix, n.addr.negated};
      src.entries.push_back(e);
      t.entries.push_back(e);
    }
  };
  for (;;) {
    if (AtEnd()) break;
    if (AcceptWord("persist")) {
      t.persist = true;
    } else if (AcceptWord("const")) {
      t.is_const = true;
    } else if (AcceptWord("counters")) {
      t.counters = true;
    } else if (AcceptWord("file")) {
      std::string path = ExpectString();
      std::string err;
      std::optional<std::string> text = env_.ReadFile(path, err);
      if (!text) Fail("cannot load \"" + path + "\": " + err);
      TableSource src;
      src.is_file = true;
      src.file = path;
      TableSource contents;
      // One address per whitespace-separated word; '#' starts a comment.
      std::string word;
      bool comment = false;
      for (size_t i = 0; i <= text->size(); ++i) {
        char c = i < text->size() ? (*text)[i] : '\n';
        if (comment) {
          if (c == '\n') comment = false;
          continue;
        }
        if (c == '#') {
          comment = true;
          c = ' ';
        }
        if (std::isspace(static_cast<unsigned char>(c))) {
          if (!word.empty()) entry(contents, true, word);
          word.clear();
        } else {
          word.push_back(c);
        }
      }
      t.sources.push_back(src);
    } else if (Peek().Is("{")) {
      Take();
      TableSource src;
      BracedItems([&] { entry(src, false, ""); });
      t.sources.push_back(src);
    } else {
      SyntaxError();
    }
  }
  rs.tables.push_back(t);
  rs.preamble.push_back({PreambleKind::kTable, rs.tables.size() - 1});
}

}  // namespace

ParseResult ParsePfConf(std::string_view text, const HostEnvironment& env, const ParseOptions& options) {
  ParseResult result;
  Parser parser(env, options, result);
  parser.ParseText(std::string(text), options.filename, result.ruleset, 0);
  return result;
}

}  // namespace hapf::pf
