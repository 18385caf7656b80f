// The state table: pf states with fixed-size keys, wire-side and stack-side
// lookups (so translated flows are found from both ends), stable state
// indices, and an incremental purge cursor.
//
// Keys are 40-byte plain values laid out like pf_state_key so they can later be
// mirrored into an eBPF hash map. Index 0 of a key is the source of an inbound
// packet / the destination of an outbound one (pf's sidx/didx rule), which makes
// both directions of a flow produce the same key.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "net/addr.h"

namespace hapf::pf::engine {

enum class Direction : uint8_t { kInOut = 0, kIn = 1, kOut = 2 };  // pf numbering

struct StateKey {
  std::array<uint8_t, 16> addr[2]{};
  uint16_t port[2]{};  // host order
  uint16_t rdomain = 0;
  uint8_t af = 0;      // net::Family value
  uint8_t proto = 0;

  net::IpAddr Addr(int i) const {
    return af == uint8_t(net::Family::kV4) ? net::IpAddr::V4Bytes(addr[i].data()) : net::IpAddr::V6Bytes(addr[i].data());
  }
  void SetAddr(int i, const net::IpAddr& a) { addr[i] = a.bytes(); }

  // Compared as five 64-bit words, each loaded on its own: a lookup key was
  // just stored word by word (MakeKeyWords), and a wider load spanning two
  // of those stores waits for them to reach the cache.
  uint64_t Word(int i) const {
    uint64_t w;
    std::memcpy(&w, reinterpret_cast<const char*>(this) + 8 * i, 8);
    return w;
  }
  friend bool operator==(const StateKey& a, const StateKey& b) {
    return ((a.Word(0) ^ b.Word(0)) | (a.Word(1) ^ b.Word(1)) | (a.Word(2) ^ b.Word(2)) | (a.Word(3) ^ b.Word(3)) |
            (a.Word(4) ^ b.Word(4))) == 0;
  }
  // A fast inline hash of the five 64-bit words (absl's byte hash is an
  // out-of-line call and showed up as a quarter of the lookup time). The
  // words are folded pairwise through 64x64->128-bit multiplies (wyhash's
  // "mum"), two multiplies deep: a chain of five multiply rounds was the
  // longest dependency in front of every lookup.
  size_t Hash() const {
    const uint64_t w[5] = {Word(0), Word(1), Word(2), Word(3), Word(4)};
    return HashWords(w);
  }
  static uint64_t Mum(uint64_t a, uint64_t b) {
    const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
  }
  static size_t HashWords(const uint64_t (&w)[5]) {
    const uint64_t a = Mum(w[0] ^ 0xa0761d6478bd642full, w[1] ^ 0xe7037ed1a0b428dbull);
    const uint64_t b = Mum(w[2] ^ 0x8ebc6af09c88c6e3ull, w[3] ^ 0x589965cc75374cc3ull);
    const uint64_t c = Mum(w[4] ^ 0x1d8e4e27c47d124full, 0x9e3779b97f4a7c15ull);
    return static_cast<size_t>(Mum(a ^ 0xe7037ed1a0b428dbull, b ^ c));
  }
};
static_assert(sizeof(StateKey) == 40, "StateKey must stay 40 bytes, padding-free");
static_assert(offsetof(StateKey, port) == 32 && offsetof(StateKey, rdomain) == 36 && offsetof(StateKey, af) == 38 &&
                  offsetof(StateKey, proto) == 39,
              "MakeKey writes the last word in this layout");

// Builds the lookup key of a packet seen in direction `dir` (pf's sidx/didx)
// from its addresses as two 64-bit words each (IpAddr::bytes() order) and
// returns its table tag (StateTable::Tag). The key is hashed from registers
// and stored word by word: assembling it in memory field by field, or
// through a temporary, and reading it back wider stalled on store forwarding.
inline uint32_t MakeKeyWords(net::Family af, uint8_t proto, uint64_t src0, uint64_t src1, uint64_t dst0,
                             uint64_t dst1, uint16_t sport, uint16_t dport, Direction dir, StateKey& out,
                             uint16_t rdomain = 0) {
  const bool out_dir = dir == Direction::kOut;
  // port[0], port[1], rdomain, af, proto in the key's (little-endian) layout.
  static_assert(std::endian::native == std::endian::little);
  const uint64_t w[5] = {out_dir ? dst0 : src0, out_dir ? dst1 : src1, out_dir ? src0 : dst0, out_dir ? src1 : dst1,
                         uint64_t{out_dir ? dport : sport} | uint64_t{out_dir ? sport : dport} << 16 |
                             uint64_t{rdomain} << 32 | uint64_t{static_cast<uint8_t>(af)} << 48 |
                             uint64_t{proto} << 56};
  char* o = reinterpret_cast<char*>(&out);
  for (int i = 0; i < 5; ++i) std::memcpy(o + 8 * i, &w[i], 8);
  return static_cast<uint32_t>(StateKey::HashWords(w));
}
inline uint32_t MakeKey(net::Family af, uint8_t proto, const net::IpAddr& src, const net::IpAddr& dst, uint16_t sport,
                        uint16_t dport, Direction dir, StateKey& out, uint16_t rdomain = 0) {
  uint64_t s[2], d[2];
  std::memcpy(s, src.data(), 16);
  std::memcpy(d, dst.data(), 16);
  return MakeKeyWords(af, proto, s[0], s[1], d[0], d[1], sport, dport, dir, out, rdomain);
}
inline StateKey MakeKey(net::Family af, uint8_t proto, const net::IpAddr& src, const net::IpAddr& dst,
                        uint16_t sport, uint16_t dport, Direction dir, uint16_t rdomain = 0) {
  StateKey k;
  MakeKey(af, proto, src, dst, sport, dport, dir, k, rdomain);
  return k;
}

// BSD TCP FSM numbering (pfsync carries it), and pf's UDP/other states.
enum TcpState : uint8_t {
  kTcpClosed = 0, kTcpListen, kTcpSynSent, kTcpSynReceived, kTcpEstablished, kTcpCloseWait, kTcpFinWait1,
  kTcpClosing, kTcpLastAck, kTcpFinWait2, kTcpTimeWait,
  // synproxy state (pf's PF_TCPS_PROXY_SRC/DST, carried by pfsync as is): the
  // firewall completes the client's handshake, then opens the server's.
  kTcpProxySrc = 11, kTcpProxyDst = 12
};
enum OtherState : uint8_t { kNoTraffic = 0, kSingle = 1, kMultiple = 2 };

constexpr uint8_t kWscaleFlag = 0x80;
constexpr uint8_t kWscaleMask = 0x0f;

struct Peer {
  uint32_t seqlo = 0;   // highest sequence number sent
  uint32_t seqhi = 0;   // highest sequence number the other end allows
  uint32_t seqdiff = 0; // modulate state: offset added on the way through
  uint16_t max_win = 0;
  uint16_t mss = 0;
  uint8_t state = 0;
  uint8_t wscale = 0;   // low bits shift, kWscaleFlag when the option was sent
  // scrub memory (carried by pfsync; hapf does not normalise timestamps yet)
  uint8_t scrub_ttl = 0;
  uint8_t scrub_valid = 0;
  uint16_t scrub_flags = 0;
  uint32_t scrub_ts_mod = 0;
};

enum StateFlag : uint16_t {
  kSfAllowOpts = 0x0001, kSfSloppy = 0x0002, kSfPflow = 0x0004, kSfNoSync = 0x0008, kSfAck = 0x0010,
  kSfNoDf = 0x0020, kSfSetTos = 0x0040, kSfRandomId = 0x0080, kSfScrubTcp = 0x0100, kSfSetPrio = 0x0200,
};

constexpr uint32_t kNoRule = 0xffffffff;
constexpr uint32_t kNoIndex = 0xffffffff;
constexpr int kWire = 0, kStack = 1;

// Laid out for the established path: the keys (the stack key is compared
// only for translated states, State::split), then the fields every packet on
// the state reads or writes, the counters and the peers (TCP's windows, the
// single/multiple state of UDP and others), so that a packet touches the
// first 196 bytes at most; what pfsync and pfctl alone read comes last.
struct State {
  StateKey key[2];          // [kWire], [kStack]
  uint32_t expire = 0;      // last activity, seconds; expiry = expire + timeout
  uint32_t rule_ref = kNoRule;  // index into the engine's rule array; kNoRule = default rule
  uint32_t rule = kNoRule;      // pf rule numbers as pfsync carries them
  uint32_t anchor = kNoRule;
  uint16_t tag = 0;         // pf tag id the packets of the state are tagged with; 0 none
  uint16_t ifindex = 0;     // 0: floating ("all")
  uint8_t direction = 1;
  uint8_t log = 0;
  uint8_t timeout = 0;      // Timeout index
  uint8_t live : 1 = 0;         // slot in use
  uint8_t has_rt_addr : 1 = 0;  // rt_addr kept in the table's side map
  uint8_t split : 1 = 0;        // keys differ (translated); set by StateTable::Insert
  uint64_t packets[2]{};    // [0] in the state's direction, [1] the reverse
  uint64_t bytes[2]{};
  Peer src, dst;            // src sent the packet that created the state
  uint32_t src_node = kNoIndex;
  uint32_t creatorid = 0;
  uint32_t creation = 0;    // seconds (engine clock)
  uint32_t nat_rule = kNoRule;
  uint64_t id = 0;
  int16_t rtableid[2]{};    // pf's rtable ids are 0..255, -1 none (pfsync carries 32 bits)
  uint16_t max_mss = 0;
  uint16_t state_flags = 0;
  uint8_t rt = 0;
  uint8_t sync_flags = 0;
  uint8_t min_ttl = 0;
  uint8_t set_tos = 0;
  uint8_t set_prio[2]{};

  bool keys_equal() const { return key[kWire] == key[kStack]; }
};
static_assert(offsetof(State, packets) == 104 && offsetof(State, src) == 136 && offsetof(State, src_node) == 192,
              "the established path's fields moved: check State's layout note");
static_assert(sizeof(State) == 232, "State grew: check the bytes-per-state aim (bench/README.md)");

// Owns the states. Not thread-safe: the daemon shards flows over several
// tables (one per worker) by a direction-independent flow hash.
class StateTable {
 public:
  StateTable();
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  size_t size() const { return live_; }
  uint32_t capacity_slots() const { return static_cast<uint32_t>(chunks_.size() * kChunk); }

  // Inserts a state (keys filled in). Returns its index, or kNoIndex if one of
  // its keys is already used by another state (pf's "state-insert" failure).
  uint32_t Insert(const State& s);
  void Remove(uint32_t index);

  // Finds the state whose wire key (dir In) or stack key (dir Out) is `key`.
  uint32_t Find(const StateKey& key, Direction dir) const { return Find(key, Tag(key), dir); }
  uint32_t Find(const StateKey& key, uint32_t tag, Direction dir) const;
  // Finds the state using `key` on either side (port allocation uses this).
  bool KeyInUse(const StateKey& key) const { return FindEntry(key, Tag(key)) != kEmpty; }

  // Batched lookups hide the two cache misses of a lookup (index bucket, then
  // the state holding the key) by issuing them for many packets first:
  // PrefetchBucket for every packet, then PrefetchState, then Find.
  static uint32_t Tag(const StateKey& key) { return static_cast<uint32_t>(key.Hash()); }
  void PrefetchBucket(uint32_t tag) const { __builtin_prefetch(&buckets_[tag & mask_]); }
  void PrefetchState(uint32_t tag) const {
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.entry == kEmpty) return;
      if (b.tag == tag) {
        // The part of the state a packet touches (State's layout note):
        // three or four cache lines.
        constexpr size_t kTouched = offsetof(State, src_node) + sizeof(uint32_t);
        const char* p = reinterpret_cast<const char*>(&at(b.entry >> 1));
        for (size_t off = 0; off < kTouched; off += 64) __builtin_prefetch(p + off);
        __builtin_prefetch(p + kTouched - 1);
        return;
      }
    }
  }

  State& at(uint32_t index) { return chunks_[index >> kChunkBits][index & (kChunk - 1)]; }
  const State& at(uint32_t index) const { return chunks_[index >> kChunkBits][index & (kChunk - 1)]; }
  bool valid(uint32_t index) const { return index < next_unused_ && at(index).live; }

  // Visits at most `budget` slots from the purge cursor, calling fn(index,
  // state) on each live one (fn may Remove() it). Never walks the whole table
  // in one call.
  template <typename Fn>
  void PurgeStep(size_t budget, Fn&& fn) {
    const uint32_t slots = next_unused_;
    if (slots == 0) return;
    for (size_t i = 0; i < budget && i < slots; ++i) {
      if (cursor_ >= slots) cursor_ = 0;
      const uint32_t idx = cursor_++;
      if (live_bits_[idx >> 6] >> (idx & 63) & 1) fn(idx, at(idx));
    }
  }

  // Visits every live state (for export, flush, tests).
  template <typename Fn>
  void ForEach(Fn&& fn) {
    const uint32_t slots = next_unused_;
    for (uint32_t i = 0; i < slots; ++i) {
      if (at(i).live) fn(i, at(i));
    }
  }

  void SetRtAddr(uint32_t index, const net::IpAddr& a);
  net::IpAddr RtAddr(uint32_t index) const;

  // Bytes owned by the table's structures (states, index, free list).
  size_t MemoryBytes() const;

 private:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunk = 1u << kChunkBits;

  // The index: open addressing with linear probing over 8-byte buckets.
  // An entry is (state index << 1 | side); the key itself lives only in the
  // state, and the bucket keeps the key's 32-bit hash (the tag) so that most
  // mismatches never touch the state, growing never reads states, and a
  // batch can prefetch the state from the bucket alone. Deletion shifts
  // later entries back (no tombstones), so probe chains stay short.
  struct Bucket {
    uint32_t tag = 0;
    uint32_t entry = kEmpty;
  };
  static constexpr uint32_t kEmpty = 0xffffffff;
  const StateKey& EntryKey(uint32_t e) const { return at(e >> 1).key[e & 1]; }
  uint32_t FindEntry(const StateKey& key, uint32_t tag) const {
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.entry == kEmpty) return kEmpty;
      if (b.tag == tag && EntryKey(b.entry) == key) return b.entry;
    }
  }
  void InsertEntry(uint32_t entry, uint32_t tag);
  void EraseEntry(uint32_t entry, uint32_t tag);
  void Grow();
  uint32_t AllocSlot();

  std::vector<Bucket> buckets_;
  uint32_t mask_ = 0;
  uint32_t entries_ = 0;
  std::vector<std::unique_ptr<State[]>> chunks_;
  std::vector<uint32_t> free_;
  // State::live of every slot, a bit each: the purge walks slots without
  // touching the (mostly cold) states of free ones.
  std::vector<uint64_t> live_bits_;
  absl::flat_hash_map<uint32_t, net::IpAddr> rt_addrs_;  // rare: route-to targets
  uint32_t next_unused_ = 0;
  uint32_t cursor_ = 0;
  size_t live_ = 0;
};

}  // namespace hapf::pf::engine
