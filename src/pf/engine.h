// The filter engine: given an L3 packet, the interface and direction, decide
// pass or block with pf's semantics, match or create a state, rewrite for
// translation in place, count, and describe what to log and what to send back.
//
// Pure: no syscalls, no clock, no threads. Time comes in with every call, and
// randomness (NAT ports, modulate state) from an injected generator.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "pf/engine_view.h"
#include "pf/ruleset_rule.h"
#include "pf/state_table.h"
#include "pf/state_timeouts.h"
#include "pf/table_lpm.h"

namespace hapf::pf::engine {

using TimeNs = int64_t;         // nanoseconds since the epoch
using InterfaceId = uint16_t;   // 0 is "all" (floating states)

// pf's reason codes (PFRES_*), also the pfctl -si counter rows.
enum Reason : uint8_t {
  kResMatch = 0, kResBadOffset, kResFragment, kResShort, kResNormalize, kResMemory, kResBadTimestamp,
  kResCongestion, kResIpOption, kResProtoChecksum, kResBadState, kResStateInsert, kResStateLimit,
  kResSrcLimit, kResSynproxy, kResTranslate, kResNoRoute, kResCount
};
const char* ReasonName(Reason r);

// pfctl -si "Limit Counters".
enum LimitCounter : uint8_t {
  kLcMaxStatesPerRule = 0, kLcMaxSrcStates, kLcMaxSrcNodes, kLcMaxSrcConn, kLcMaxSrcConnRate,
  kLcOverloadTable, kLcOverloadFlush, kLcCount
};

struct Counters {
  uint64_t state_searches = 0, state_inserts = 0, state_removals = 0;
  uint64_t src_searches = 0, src_inserts = 0, src_removals = 0;
  std::array<uint64_t, kResCount> reasons{};
  std::array<uint64_t, kLcCount> limits{};
  uint64_t bytes[2][2]{};    // [v4|v6][in|out]
  uint64_t packets[2][2][2]{};  // [v4|v6][in|out][pass|drop]

  Counters& operator+=(const Counters& o);
};

constexpr size_t kPflogHeaderLen = 100;  // OpenBSD struct pfloghdr

struct Verdict {
  Action action = Action::kPass;   // kPass or kBlock
  Reason reason = kResMatch;
  // pflog numbering: the main-ruleset rule (the anchor rule when the deciding
  // rule sits in an anchor) and the rule inside the anchor; kNoRule = none/default.
  uint32_t rule_nr = kNoRule;
  uint32_t subrule_nr = kNoRule;
  uint32_t rule_ref = kNoRule;
  uint32_t state = kNoIndex;       // matched or created state
  bool new_state = false;
  bool rewritten = false;
  bool log = false;
  // The packet's pf tag after this pass (0 none): the rules' `tag`, or the
  // state's, else the tag it came in with. The embedder carries it to the
  // packet's next Test() (inbound, then outbound when forwarded), as pf's
  // mbuf tag travels with the packet.
  uint16_t tag = 0;
  // Valid only when `log` (filled then; left uninitialised otherwise, so a
  // verdict costs no 100-byte clear per packet).
  std::array<uint8_t, kPflogHeaderLen> pflog;
  // Packets the engine built, to be sent by the embedder:
  std::vector<uint8_t> reply;      // back to the sender, past the filter: block return's RST or
                                   // ICMP error, synproxy's SYN-ACK and final ACK to the client
  std::vector<uint8_t> forward;    // synproxy's SYN and ACK to the server: sent like any packet
                                   // of the host, through the filter (OpenBSD's pf_send_tcp
                                   // without PF_TAG_GENERATED), so the way out keeps its state

  // Back to a default verdict without touching `pflog` (what `v = Verdict{}`
  // does, minus the clear and the temporary).
  void Reset() {
    action = Action::kPass;
    reason = kResMatch;
    rule_nr = subrule_nr = rule_ref = kNoRule;
    state = kNoIndex;
    new_state = rewritten = log = false;
    tag = 0;
    reply.clear();
    forward.clear();
  }
};

// An exported state: every field pfsync carries, in host order. Times are
// relative (age, remaining) as on the wire, so an export/import at the same
// clock reading is lossless.
struct StateKeyExport {
  net::IpAddr addr[2];
  uint16_t port[2]{};
  uint16_t rdomain = 0;
  net::Family af = net::Family::kNone;
  friend bool operator==(const StateKeyExport&, const StateKeyExport&) = default;
};
struct PeerExport {
  uint16_t scrub_flags = 0;
  uint8_t scrub_ttl = 0;
  uint8_t scrub_valid = 0;
  uint32_t scrub_ts_mod = 0;
  uint32_t seqlo = 0, seqhi = 0, seqdiff = 0;
  uint16_t max_win = 0, mss = 0;
  uint8_t state = 0, wscale = 0;
  friend bool operator==(const PeerExport&, const PeerExport&) = default;
};
struct StateExport {
  uint64_t id = 0;
  uint32_t creatorid = 0;
  std::string ifname;              // "all" for floating states
  StateKeyExport key[2];           // [0] wire, [1] stack
  uint8_t proto = 0;
  PeerExport src, dst;
  net::IpAddr rt_addr;
  uint8_t rt = 0;
  uint32_t rule = kNoRule, anchor = kNoRule, nat_rule = kNoRule;
  uint32_t creation = 0;           // age in seconds
  uint32_t expire = 0;             // seconds left
  uint64_t packets[2]{}, bytes[2]{};
  int32_t rtableid[2]{};
  uint16_t max_mss = 0;
  uint8_t direction = 1, log = 0, timeout = 0, sync_flags = 0, min_ttl = 0, set_tos = 0;
  uint16_t state_flags = 0;
  uint8_t set_prio[2]{};
  friend bool operator==(const StateExport&, const StateExport&) = default;
};

// Local state lifecycle, for pfsync. Called synchronously from Test() and the
// removal paths (purge, kill, flush); states written by Import() or removed by
// RemoveImported() are not reported, so replicated states are never echoed.
class StateObserver {
 public:
  virtual ~StateObserver() = default;
  virtual void StateCreated(uint32_t idx, const State& s, TimeNs now) = 0;
  // A packet passed on the state (its peers or counters may have moved).
  virtual void StateUpdated(uint32_t idx, const State& s, TimeNs now) = 0;
  // The state is about to be removed; `s` is still intact.
  virtual void StateRemoving(uint32_t idx, const State& s) = 0;
};

struct EngineOptions {
  uint32_t hostid = 1;              // pfsync creatorid
  uint64_t state_id_base = 0;       // pf: (seconds when enabled) << 32
  Timeouts timeouts = Timeouts::Defaults();
  Limits limits;
  bool if_bound_default = false;    // set state-policy if-bound
  BlockPolicy block_policy = BlockPolicy::kDrop;  // set block-policy
  // States examined per Test() call (sequential slots, cheap); the daemon also
  // calls Purge() from its timer so idle tables drain.
  uint32_t purge_budget = 4;
  std::function<uint32_t()> random; // injected RNG (ports, ISNs); deterministic default
};

class Engine {
 public:
  explicit Engine(EngineOptions opts = {});

  // Interfaces and groups. Every interface is a member of its own group and of
  // the group "any"-less groups it is added to (e.g. "carp", "egress").
  InterfaceId AddInterface(const std::string& name);
  uint16_t GroupId(const std::string& group);  // creates on first use
  void AddToGroup(InterfaceId ifp, const std::string& group);
  void SetSkip(InterfaceId ifp, bool skip);    // set skip on
  InterfaceId FindInterface(const std::string& name) const;
  const std::string& InterfaceName(InterfaceId ifp) const;

  std::shared_ptr<Table> GetTable(const std::string& name);  // creates on first use
  // pf tag names: ids 1..65535, stable for the engine's life (states carry
  // them across reloads); 0 when all ids are taken.
  uint16_t TagId(const std::string& name);
  const std::string& TagName(uint16_t id) const;

  // Installs a ruleset: `main` plus anchors referenced by index from rules.
  // Rules of the replaced ruleset that states or source nodes still reference
  // stay alive (as pf keeps them): those states keep their rule's timeouts,
  // limits, overload table and counters, and the old rules are freed once
  // their last state and source node are gone.
  void LoadRuleset(Ruleset main, std::vector<Ruleset> anchors = {});
  // Replaced rulesets still kept alive by states or source nodes.
  size_t retired_rulesets() const { return retired_.size(); }
  const Ruleset& main_ruleset() const { return main_; }
  Ruleset& anchor(size_t i) { return anchors_[i]; }
  Rule* RuleByRef(uint32_t ref);

  // The entry point. `pkt` is the L3 packet (IPv4/IPv6), rewritten in place.
  // `pf_tag` is the tag the packet already carries (Verdict::tag of its
  // previous Test(), e.g. inbound before outbound), 0 none. `rcvif` is the
  // interface an outbound packet was received on when it is forwarded (pf's
  // m_pkthdr.ph_ifidx, for `received-on`); 0 for inbound packets (their own
  // interface) and locally generated ones.
  Verdict Test(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, TimeNs now, uint16_t pf_tag = 0,
               InterfaceId rcvif = 0);
  // The same for a batch (what one NFQUEUE read delivers): verdict i is
  // what Test() returns for packet i, the packets taken in order (the
  // incremental purge runs once for the batch); state lookups
  // are prefetched across the batch so their cache misses overlap.
  struct BatchPacket {
    Direction dir = Direction::kIn;
    InterfaceId ifp = 0;
    std::span<uint8_t> pkt;
    uint16_t pf_tag = 0;
    InterfaceId rcvif = 0;
  };
  void TestBatch(std::span<const BatchPacket> batch, std::span<Verdict> out, TimeNs now);

  // The concurrent established path. Packets that only move an existing state
  // (the bulk of the traffic) may be tested by several threads at once, each
  // with its own SharedContext, provided nothing else runs on the engine
  // meanwhile: the embedder holds a reader/writer lock, the read side around
  // TestShared, the write side around every other call. States are guarded by
  // lock stripes; rule counters are atomic; engine counters and the observer's
  // update reports wait in the context until MergeShared.
  //
  // Returns false, having changed nothing, when the packet needs more than
  // that: no state (rules are evaluated, a state created), an ICMP error or a
  // fragment, a state to re-evaluate or replace (if-bound elsewhere, TCP port
  // reuse), or source tracking to update. Such a packet goes through Test()
  // under the write side. No incremental purge runs here: the embedder calls
  // Purge() from a timer.
  struct alignas(64) SharedContext {  // one cache line apart from another worker's
    Counters counters;
    // States passed on, reported to the observer by MergeShared (the id tells
    // a slot that was freed and reused in between).
    std::vector<std::pair<uint32_t, uint64_t>> updated;
    uint64_t rng = 0x2545f4914f6cdd1dull;  // per-context ISN randomness, reseeded by MergeShared
    // Rule counters gathered here and added to the rules once per batch
    // (FlushRuleCounters): every worker adding to the same hot rule for every
    // packet made the two cores fight over its cache line (2 workers ran at
    // half the speed of one). Direct-mapped by rule ref.
    struct RuleDelta {
      Rule* rule = nullptr;
      uint64_t packets[2]{}, bytes[2]{};
    };
    std::array<RuleDelta, 16> rule_deltas{};
  };
  bool TestShared(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, TimeNs now, uint16_t pf_tag,
                  InterfaceId rcvif, SharedContext& ctx, Verdict& v);
  // TestShared for a batch, state lookups prefetched across it as TestBatch
  // does: done[i] and out[i] are what TestShared returns and sets for packet
  // i, the packets taken in order (a declined packet changed nothing and is
  // for Test() under the write side). `stop_at_decline`: every packet after
  // the first declined one is declined untouched too, so that an embedder
  // finishing the batch on the write side keeps the packets' order.
  void TestSharedBatch(std::span<const BatchPacket> batch, TimeNs now, SharedContext& ctx, std::span<Verdict> out,
                       std::span<bool> done, bool stop_at_decline = false);
  // Read side (before releasing it: the rules must not change meanwhile):
  // adds the rule counters the context gathered to the rules.
  static void FlushRuleCounters(SharedContext& ctx);
  // Read side allowed: reports the states the context passed packets on to
  // the observer, which may export states meanwhile (Export takes the state's
  // stripe). The embedder serialises the observer itself: the write side, or
  // a lock of its own that every read-side reporter takes.
  void ReportShared(SharedContext& ctx, TimeNs now);
  // Write side only: flushes the context (rule counters, engine counters,
  // the observer's reports of updated states) and clears it.
  void MergeShared(SharedContext& ctx, TimeNs now);

  // Incremental purge, also run by Test(): examines at most `budget` states.
  size_t Purge(TimeNs now, size_t budget);
  // Kills states (pfctl -k / flush): returns the number removed.
  size_t KillStatesFrom(const net::IpAddr& src, uint32_t rule_ref = kNoRule);
  // pfctl -k SRC [-k DST]: states whose originator is in `src` and, when `dst`
  // is given, whose other end is in `dst` (either key, so translated ones too).
  size_t KillStates(const net::Prefix& src, const net::Prefix* dst);
  void FlushStates();
  // pfctl -K SRC [-K DST]: source-tracking nodes of addresses in `src` (and,
  // when `dst` is given, whose sticky redirection address is in `dst`). Their
  // states live on without a source node, as pf_src_tree_remove_state leaves
  // them; max-src-* counting starts afresh for those sources.
  size_t KillSrcNodes(const net::Prefix& src, const net::Prefix* dst);
  // One line per live source node (pfctl -sS).
  struct SrcNodeView {
    net::IpAddr addr, raddr;
    uint32_t states = 0, conn = 0, rate_count = 0;
    uint32_t rule_nr = 0;
  };
  std::vector<SrcNodeView> SrcNodes() const;

  StateTable& states() { return states_; }
  const Counters& counters() const { return counters_; }
  EngineOptions& options() { return opts_; }
  // Seconds of a state's timeout after scaling (what pfctl -ss -v prints).
  uint64_t ExpiresAt(const State& s) const;
  // ExpiresAt(s) <= now_s, without its division.
  bool Expired(const State& s, uint64_t now_s) const;

  // Takes the state's lock stripe: safe beside the shared path.
  StateExport Export(uint32_t state, TimeNs now) const;
  void SetStateObserver(StateObserver* o) { observer_ = o; }
  // Removes a state on behalf of pfsync (a peer's delete): not reported.
  void RemoveImported(uint32_t idx) {
    if (states_.valid(idx)) RemoveState(idx, false);
  }
  // Returns the new state index or kNoIndex (key collision, limit).
  uint32_t Import(const StateExport& e, TimeNs now);

  // Per-label counters: evaluations, packets, bytes, states (pfctl -sl).
  struct LabelCounters {
    uint64_t evaluations = 0, packets = 0, bytes = 0, states = 0;
  };
  std::vector<std::pair<std::string, LabelCounters>> Labels() const;
  // The pfctl -si text of the counters.
  std::string StatusText() const;

 private:
  struct Interface {
    std::string name;
    std::vector<uint16_t> groups;
    bool skip = false;
  };
  struct SrcNode {
    net::IpAddr addr;
    uint32_t rule_ref = kNoRule;
    uint32_t states = 0;
    uint32_t conn = 0;
    uint32_t rate_count = 0;     // connections in the current rate window
    uint32_t rate_start = 0;     // second the window began
    uint32_t expire = 0;         // when states reached 0
    net::IpAddr raddr;           // sticky-address: the pool address chosen
    bool live = false;
  };
  struct EvalResult;
  struct RetiredRules {
    Ruleset main;
    std::vector<Ruleset> anchors;
    uint64_t refs = 0;  // states and source nodes bound to its rules
  };

  uint32_t NextRandom();
  bool InterfaceInGroup(InterfaceId ifp, uint16_t group) const;
  bool MatchRuleset(const Ruleset& rs, const PacketInfo& p, Direction dir, InterfaceId ifp, EvalResult& res,
                    int depth, Rule* anchor_rule);
  // Tests a parsed packet into `v` (reset first).
  void TestParsed(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, const StateKey& key,
                  uint32_t tag, uint16_t pf_tag, InterfaceId rcvif, TimeNs now, Verdict& v);
  // What TestState does with a packet on the state: it is done (the verdict
  // stands), the state is gone and the rules decide, or (shared path only)
  // the packet needs the write side and nothing was changed.
  enum class StateOutcome : uint8_t { kDone, kReevaluate, kNeedsExclusive };
  // The batch pipeline of TestBatch and TestSharedBatch: parses packet i,
  // prefetches its bucket and later its state, then calls
  // test(i, batch[i], Pipelined&) in order.
  struct Pipelined;
  template <typename Fn>
  void Pipeline(std::span<const BatchPacket> batch, size_t n, Fn&& test);
  // TestShared once the packet is parsed and keyed.
  bool TestSharedState(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, const StateKey& key,
                       uint32_t tag, TimeNs now, uint16_t pf_tag, SharedContext& ctx, Verdict& v);
  // `shared` set: the concurrent path (counters and randomness from the
  // context, no removals, no source tracking).
  StateOutcome TestState(uint32_t idx, Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p,
                         uint32_t now_s, SharedContext* shared, Verdict& v);
  Verdict TestIcmpError(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, uint32_t now_s,
                        bool& found);
  Verdict TestRules(Direction dir, InterfaceId ifp, std::span<uint8_t> pkt, PacketInfo& p, uint16_t pf_tag,
                    InterfaceId rcvif, uint32_t now_s);
  bool ChooseAddress(Rule& r, Pool& pool, const net::IpAddr& src, net::IpAddr& out, uint32_t now_s);
  bool AllocatePort(const StateKey& wire_template, int side, const Pool& pool, uint16_t orig_port,
                    uint16_t& out);
  void RemoveState(uint32_t idx, bool notify = true);
  uint32_t SrcNodeFor(Rule& r, const net::IpAddr& src, uint32_t now_s, bool create);
  void FreeSrcNode(uint32_t si);  // unindexes a live source node and frees its slot
  // Removes (and reports) every state `doomed` picks; the admin paths' walk (kill, flush).
  size_t RemoveStatesWhere(const std::function<bool(const State&)>& doomed);
  bool SrcConnLimit(uint32_t state_idx, uint32_t now_s);
  void BuildReply(const Rule& r, const PacketInfo& p, std::span<const uint8_t> pkt, Verdict& v);
  // synproxy state: the handshake with the client, then with the server.
  // Every packet of a state in kTcpProxySrc/kTcpProxyDst ends here (dropped:
  // the engine answers instead); the state is established when both are done.
  void SynproxyStart(State& s, const PacketInfo& p, Verdict& v);
  void Synproxy(State& s, const PacketInfo& p, Direction dir, Verdict& v);
  void FillPflog(Verdict& v, Direction dir, InterfaceId ifp, const PacketInfo& p) const;
  static void CountPacket(Counters& c, const PacketInfo& p, Direction dir, bool pass);
  void CountPacket(const PacketInfo& p, Direction dir, bool pass) { CountPacket(counters_, p, dir, pass); }
  void Renumber();
  // A state or source node let go of `r` (after its counter was decremented).
  void ReleaseRule(const Rule& r);
  // Frees retired rulesets nothing references any more. Runs where no Rule*
  // is held (Purge, LoadRuleset), never under a caller's feet.
  void CollectRetired();
  void FreeRefs(RetiredRules& old);
  template <typename Fn>
  void ForEachCurrentRule(Fn&& fn) const {
    for (const Rule& r : main_.rules) fn(r);
    for (const Ruleset& rs : anchors_)
      for (const Rule& r : rs.rules) fn(r);
  }
  static void ComputeSkipSteps(std::vector<Rule>& rules);
  static void BuildIndex(Ruleset& rs);

  EngineOptions opts_;
  std::vector<Interface> ifaces_;
  absl::flat_hash_map<std::string, uint16_t> groups_;
  absl::flat_hash_map<std::string, std::shared_ptr<Table>> tables_;
  absl::flat_hash_map<std::string, uint16_t> tag_ids_;
  std::vector<std::string> tag_names_;  // [id - 1]
  Ruleset main_;
  std::vector<Ruleset> anchors_;
  std::vector<Rule*> by_ref_;      // nullptr: a free ref
  std::vector<uint32_t> free_refs_;
  uint32_t generation_ = 0;
  absl::flat_hash_map<uint32_t, std::unique_ptr<RetiredRules>> retired_;  // by generation
  bool retired_unreferenced_ = false;
  StateTable states_;
  // Lock stripes of the shared path, by state index; the write side needs none.
  struct alignas(64) StateStripe {
    std::atomic_flag busy;
  };
  static constexpr uint32_t kStripes = 1024;
  std::unique_ptr<StateStripe[]> stripes_ = std::make_unique<StateStripe[]>(kStripes);
  std::atomic_flag& StripeOf(uint32_t idx) const { return stripes_[idx & (kStripes - 1)].busy; }
  // A spin lock on one stripe: held for the few hundred nanoseconds of one
  // state's update or export, so spinning beats sleeping.
  class StripeGuard {
   public:
    explicit StripeGuard(std::atomic_flag& f) : f_(f) {
      while (f_.test_and_set(std::memory_order_acquire)) {
        while (f_.test(std::memory_order_relaxed)) __builtin_ia32_pause();
      }
    }
    ~StripeGuard() { f_.clear(std::memory_order_release); }
    StripeGuard(const StripeGuard&) = delete;
    StripeGuard& operator=(const StripeGuard&) = delete;

   private:
    std::atomic_flag& f_;
  };
  std::vector<SrcNode> src_nodes_;
  std::vector<uint32_t> src_free_;
  absl::flat_hash_map<std::pair<uint32_t, std::array<uint8_t, 17>>, uint32_t> src_index_;
  uint32_t src_cursor_ = 0;
  Counters counters_;
  uint64_t next_state_id_ = 0;
  uint64_t rng_state_ = 0x9e3779b97f4a7c15ull;
  StateObserver* observer_ = nullptr;
};

}  // namespace hapf::pf::engine
