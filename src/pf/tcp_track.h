// TCP state tracking with pf's sequence-window checks (pf_tcp_track_full):
// each peer remembers the highest sequence it sent (seqlo), the highest the
// other side allows it (seqhi) and its largest window; a segment passes only if
// it lies inside the window the receiver advertised, its ACK is within one
// window of what was sent, and a RST carries an exact sequence number.
#pragma once

#include <cstdint>

#include "pf/engine_view.h"
#include "pf/state_table.h"

namespace hapf::pf::engine {

// kEstablished: passed, and this segment completed the handshake with both
// ends established (pf checks max-src-conn at that moment).
enum class TcpVerdict : uint8_t { kPass, kBadState, kEstablished };

// Initialises the peers of a new TCP state from its first packet (src side).
void TcpInitState(State& s, const PacketInfo& pkt);

// Tracks one segment. `from_src` says the segment was sent by the state's src
// peer. Updates the peers and s.timeout; returns kBadState for out-of-window
// segments (pf drops them with reason "state-mismatch"). Sequence numbers in
// `pkt` are as the sender wrote them; with modulate state the caller rewrites
// seq += src.seqdiff and ack -= dst.seqdiff afterwards. `random_iss` seeds the
// responder's modulation offset.
TcpVerdict TcpTrack(State& s, const PacketInfo& pkt, bool from_src, uint32_t random_iss = 0);

// A new SYN for a state whose both ends are closing/closed: pf purges the old
// state and evaluates the SYN against the rules (port reuse).
bool TcpIsReuse(const State& s, const PacketInfo& pkt);

}  // namespace hapf::pf::engine
