// pfsync version 6 wire format (OpenBSD 4.9 … 7.x): the header, the region
// subheaders and every item, as typed values with exact encode and a strict,
// bounds-checked decode. Layouts and receiver rules follow shared/spec/pfsync.md
// §2–§4 and §7; nothing here is cast from raw bytes.
//
// Decoding is all-or-nothing: DecodePacket() either accepts the whole packet
// (every region parsed, every item typed) or returns the reason it rejects it,
// so the sync engine never half-applies a packet. Out-of-range values inside a
// well-formed item (a timeout ≥ 20, a peer state > 12, an INS with a bad
// address family) are not framing errors: OpenBSD skips just that item and
// counts `badval` — 7.4+ bulk transfers legitimately carry timeouts 21/22 — so
// the decoder marks such items and the engine skips them the same way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "net/addr.h"

namespace hapf::pfsync {

inline constexpr uint8_t kVersion = 6;
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kSubheaderSize = 4;
inline constexpr size_t kIpHeaderSize = 20;
inline constexpr size_t kStateSize = 264;
inline constexpr size_t kUpdCSize = 84;
inline constexpr size_t kIdItemSize = 12;
inline constexpr size_t kClrSize = 20;
inline constexpr size_t kBusSize = 12;
inline constexpr size_t kTdbSize = 52;
inline constexpr size_t kPeerSize = 32;
inline constexpr size_t kKeySize = 40;
inline constexpr size_t kIfNameSize = 16;

enum class Action : uint8_t {
  kClr = 0,
  kOldIns = 1,
  kInsAck = 2,
  kOldUpd = 3,
  kUpdC = 4,
  kUpdReq = 5,
  kDel = 6,
  kDelC = 7,
  kInsF = 8,
  kDelF = 9,
  kBus = 10,
  kOldTdb = 11,
  kEof = 12,
  kIns = 13,
  kUpd = 14,
  kTdb = 15,
};
inline constexpr int kActionCount = 16;

// The item size OpenBSD's receiver needs for an action, or 0 for the codes it
// defines but does not handle (1, 3, 8, 9, 11, 12).
size_t ReceiverItemSize(Action a);
// OpenBSD tcpdump's name of an action ("UPD ST COMP"), "UNKNOWN" above 15.
std::string_view ActionName(uint8_t action);

// Address family as OpenBSD numbers it on the wire: AF_INET6 is 24, not Linux's 10.
// Any byte value can be held, so unknown families survive a decode/encode round trip.
enum class WireAf : uint8_t { kUnspec = 0, kInet = 2, kInet6 = 24 };
net::Family ToFamily(WireAf af);
WireAf FromFamily(net::Family f);

enum class Direction : uint8_t { kNone = 0, kIn = 1, kOut = 2 };
enum class RouteType : uint8_t { kNone = 0, kRouteTo = 1, kDupTo = 2, kReplyTo = 3 };

// Peer protocol states (§4.4): TCP FSM values, plus pf's synproxy states.
enum TcpState : uint8_t {
  kTcpClosed = 0,
  kTcpListen = 1,
  kTcpSynSent = 2,
  kTcpSynReceived = 3,
  kTcpEstablished = 4,
  kTcpCloseWait = 5,
  kTcpFinWait1 = 6,
  kTcpClosing = 7,
  kTcpLastAck = 8,
  kTcpFinWait2 = 9,
  kTcpTimeWait = 10,
  kTcpProxySrc = 11,
  kTcpProxyDst = 12,
};
inline constexpr uint8_t kMaxPeerState = 12;
inline constexpr uint8_t kTimeoutMax = 20;  // PFTM_MAX: valid indexes are 0..19

// PFTM indexes used by the engine and tests.
enum Timeout : uint8_t {
  kTmTcpFirst = 0,
  kTmTcpOpening = 1,
  kTmTcpEstablished = 2,
  kTmTcpClosing = 3,
  kTmTcpFinWait = 4,
  kTmTcpClosed = 5,
  kTmUdpFirst = 6,
  kTmUdpSingle = 7,
  kTmUdpMultiple = 8,
  kTmIcmpFirst = 9,
  kTmIcmpError = 10,
  kTmOtherFirst = 11,
  kTmOtherSingle = 12,
  kTmOtherMultiple = 13,
};

// state_flags bits (§4.5).
inline constexpr uint16_t kStateFlagAllowOpts = 0x0001;
inline constexpr uint16_t kStateFlagSloppy = 0x0002;
inline constexpr uint16_t kStateFlagPflow = 0x0004;
inline constexpr uint16_t kStateFlagNoSync = 0x0008;
inline constexpr uint16_t kStateFlagAck = 0x0010;

inline constexpr uint8_t kBusStart = 1;
inline constexpr uint8_t kBusEnd = 2;

// The cluster-wide identity of a state (§3.2). `id` is the host value of the
// big-endian 64-bit field; creatorid likewise.
struct StateId {
  uint64_t id = 0;
  uint32_t creatorid = 0;
  friend bool operator==(const StateId&, const StateId&) = default;
  friend auto operator<=>(const StateId&, const StateId&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const StateId& s) {
    return H::combine(std::move(h), s.id, s.creatorid);
  }
};

// A NUL-padded 16-byte interface name, kept inline so decoding allocates nothing.
struct IfName {
  std::array<char, kIfNameSize> bytes{};
  static IfName From(std::string_view name);  // truncated to 15 characters
  std::string_view view() const;              // up to the first NUL (all 16 if none)
  friend bool operator==(const IfName&, const IfName&) = default;
};

struct WireScrub {
  uint16_t flags = 0;  // only 0x0001 (timestamp modulation) is exported
  uint8_t ttl = 0;
  uint8_t scrub_flag = 0;  // 0x01: the scrub fields are valid
  uint32_t ts_mod = 0;
  friend bool operator==(const WireScrub&, const WireScrub&) = default;
};

// pfsync_state_peer, 32 bytes (§4.3); the 6 pad bytes are written as zero.
struct WirePeer {
  WireScrub scrub;
  uint32_t seqlo = 0;
  uint32_t seqhi = 0;
  uint32_t seqdiff = 0;
  uint16_t max_win = 0;
  uint16_t mss = 0;
  uint8_t state = 0;
  uint8_t wscale = 0;
  friend bool operator==(const WirePeer&, const WirePeer&) = default;
};

// pfsync_state_key, 40 bytes (§4.2). Addresses take their family from `af`, or
// from the state's af when `af` is 0; an IPv4 address keeps only its first 4
// bytes (the other 12 are zero on the wire).
struct WireKey {
  std::array<net::IpAddr, 2> addr{};
  std::array<uint16_t, 2> port{};  // host order of the network-order field
  uint16_t rdomain = 0;
  WireAf af = WireAf::kUnspec;
  friend bool operator==(const WireKey&, const WireKey&) = default;
};

inline constexpr int kKeyWire = 0;
inline constexpr int kKeyStack = 1;

// pfsync_state, 264 bytes (§4): the full state record of INS, UPD and DEL.
struct WireState {
  uint64_t id = 0;
  IfName ifname;
  std::array<WireKey, 2> key{};  // [0] wire side, [1] stack side
  WirePeer src;
  WirePeer dst;
  net::IpAddr rt_addr;  // family of `af`; zero when there is no route-to
  uint32_t rule = 0xffffffff;
  uint32_t anchor = 0xffffffff;
  uint32_t nat_rule = 0xffffffff;
  uint32_t creation = 0;  // age in seconds
  uint32_t expire = 0;    // seconds left
  std::array<uint64_t, 2> packets{};
  std::array<uint64_t, 2> bytes{};
  uint32_t creatorid = 0;
  std::array<int32_t, 2> rtableid{};
  uint16_t max_mss = 0;
  WireAf af = WireAf::kUnspec;
  uint8_t proto = 0;
  Direction direction = Direction::kNone;
  uint8_t log = 0;
  RouteType rt = RouteType::kNone;
  uint8_t timeout = 0;
  uint8_t sync_flags = 0;
  uint8_t updates = 0;
  uint8_t min_ttl = 0;
  uint8_t set_tos = 0;
  uint16_t state_flags = 0;
  std::array<uint8_t, 2> set_prio{};

  StateId identity() const { return StateId{id, creatorid}; }
  friend bool operator==(const WireState&, const WireState&) = default;
};

// pfsync_upd_c, 84 bytes (§3.1). expire and state_flags are kept so that a
// decoded item re-encodes exactly, though OpenBSD ignores both on receive.
struct WireUpdC {
  uint64_t id = 0;
  WirePeer src;
  WirePeer dst;
  uint32_t creatorid = 0;
  uint32_t expire = 0;
  uint8_t timeout = 0;
  uint8_t state_flags = 0;
  StateId identity() const { return StateId{id, creatorid}; }
  friend bool operator==(const WireUpdC&, const WireUpdC&) = default;
};

struct WireClr {
  IfName ifname;  // empty: all interfaces
  uint32_t creatorid = 0;
  friend bool operator==(const WireClr&, const WireClr&) = default;
};

struct WireBus {
  uint32_t creatorid = 0;
  uint32_t endtime = 0;
  uint8_t status = 0;  // kBusStart / kBusEnd
  friend bool operator==(const WireBus&, const WireBus&) = default;
};

// pfsync_tdb, 52 bytes (§11). hapf does not terminate IPsec: decoded, printed, ignored.
struct WireTdb {
  uint32_t spi = 0;  // raw, printed as the big-endian value
  std::array<uint8_t, 28> dst{};  // BSD sockaddr union, opaque
  uint64_t rpl = 0;
  uint64_t cur_bytes = 0;
  uint8_t sproto = 0;
  uint8_t updates = 0;
  uint16_t rdomain = 0;
  friend bool operator==(const WireTdb&, const WireTdb&) = default;
};

// --- item codecs (each exactly its wire size; callers check bounds) ---------
void EncodePeer(const WirePeer& p, uint8_t* out);
WirePeer DecodePeer(const uint8_t* in);
void EncodeKey(const WireKey& k, uint8_t* out);  // 40 bytes
void EncodeState(const WireState& s, uint8_t* out);
WireState DecodeState(const uint8_t* in);
void EncodeUpdC(const WireUpdC& u, uint8_t* out);
WireUpdC DecodeUpdC(const uint8_t* in);
void EncodeId(const StateId& s, uint8_t* out);
StateId DecodeId(const uint8_t* in);
void EncodeClr(const WireClr& c, uint8_t* out);
WireClr DecodeClr(const uint8_t* in);
void EncodeBus(const WireBus& b, uint8_t* out);
WireBus DecodeBus(const uint8_t* in);
void EncodeTdb(const WireTdb& t, uint8_t* out);
WireTdb DecodeTdb(const uint8_t* in);

// Why a packet was rejected whole; each maps onto one of OpenBSD's counters.
enum class DecodeError : uint8_t {
  kNone = 0,
  kShortHeader,     // fewer than 20 bytes (hdrops)
  kBadVersion,      // version ≠ 6 (badver)
  kBadHeaderLen,    // header len < 20 or more than arrived (badlen)
  kTruncatedRegion, // a region runs past the header len (badlen)
  kBadAction,       // unknown action or short item with count or len 0 (badact)
};
inline constexpr int kDecodeErrorCount = 6;
std::string_view DecodeErrorName(DecodeError e);

// Item-level verdict of the value checks of §7.
enum class ItemCheck : uint8_t { kOk = 0, kBadValue };
// §7 common checks (timeout < 20, peer states ≤ 12), and with `insert` also the
// INS-only checks (direction, state af, key afs).
ItemCheck CheckState(const WireState& s, bool insert);
ItemCheck CheckUpdC(const WireUpdC& u);

// One region of a decoded packet. Items live in the per-kind vectors of
// DecodedPacket; `first` indexes that vector. Skipped regions (unknown action
// or items shorter than ours with count and len non-zero; defined-but-unhandled
// codes) keep their action and count but carry no items.
struct Region {
  uint8_t action = 0;
  uint8_t item_words = 0;
  uint16_t count = 0;
  bool skipped = false;
  uint32_t first = 0;
};

// A whole decoded packet. Reused across calls: vectors keep their capacity, so
// steady-state decoding allocates nothing.
struct DecodedPacket {
  uint16_t header_len = 0;
  std::array<uint8_t, 16> pfcksum{};
  std::vector<Region> regions;
  std::vector<WireState> states;  // INS, UPD, DEL
  std::vector<WireUpdC> upd_c;
  std::vector<StateId> ids;  // INS_ACK, UPD_REQ, DEL_C
  std::vector<WireClr> clr;
  std::vector<WireBus> bus;
  std::vector<WireTdb> tdb;
  void Clear();
};

// Decodes `pfsync` (starting at the pfsync header, IP header excluded).
// Returns kNone and fills `out`, or the reason for rejecting the whole packet.
DecodeError DecodePacket(std::span<const uint8_t> pfsync, DecodedPacket& out);

// Builds one pfsync packet into a caller-owned buffer of at most `max_bytes`
// (the pfsync MTU minus the IP header). Consecutive items of one action share a
// region; a new region starts when the action changes.
class PacketBuilder {
 public:
  explicit PacketBuilder(size_t max_bytes = 1500 - kIpHeaderSize);

  void Reset();
  bool empty() const { return buf_.size() == kHeaderSize; }
  size_t size() const { return buf_.size(); }
  size_t max_bytes() const { return max_bytes_; }
  void set_max_bytes(size_t m) { max_bytes_ = m; }
  // Whether one more item of `action` (with a new subheader if needed) fits.
  bool Fits(Action action, size_t item_size) const;

  // Each returns false (and writes nothing) when the item does not fit.
  bool AddState(Action action, const WireState& s);  // kIns, kUpd, kDel
  bool AddUpdC(const WireUpdC& u);
  bool AddId(Action action, const StateId& s);  // kInsAck, kUpdReq, kDelC
  bool AddClr(const WireClr& c);
  bool AddBus(const WireBus& b);
  bool AddTdb(const WireTdb& t);
  // An empty region (count 0), only useful for tests of receivers.
  bool AddEmptyRegion(Action action, uint8_t item_words);

  // Writes the header's len and returns the packet (valid until the next Add/Reset).
  std::span<const uint8_t> Finish();

 private:
  uint8_t* Reserve(Action action, size_t item_size);

  size_t max_bytes_;
  std::vector<uint8_t> buf_;
  size_t region_at_ = 0;  // offset of the open region's subheader, 0 = none
  int region_action_ = -1;
};

}  // namespace hapf::pfsync
