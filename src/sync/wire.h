// The configuration sync wire format: one frame per message, over a stream
// (TCP). All integers big-endian.
//
//   0  magic "HSY1"         4
//   4  type                 1   (Hello, Offer, Pull, Push, Result, Status)
//   5  flags, reserved      3   (zero)
//   8  sender id            4   (the sending node's sync-id)
//  12  counter              8   (per connection and direction, strictly increasing; 0 in HELLO)
//  20  body length          4   (at most kMaxBody)
//  24  body
//   .  HMAC-SHA256          32  over bytes 0 .. end of body
//
// HELLO is keyed with the cluster key, every later frame with the session key
// both HELLO nonces derive (SessionKey), so a frame recorded on one
// connection is worthless on any other. Decoding is field by field with bounds
// checks; anything malformed is an error value, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sync/bundle.h"

namespace hapf::sync {

constexpr size_t kHeaderSize = 24;
constexpr size_t kMacSize = 32;
constexpr size_t kNonceSize = 16;
constexpr uint32_t kMaxBody = 16u << 20;

using Key = std::vector<uint8_t>;
using Nonce = std::array<uint8_t, kNonceSize>;

enum class MsgType : uint8_t { kHello = 1, kOffer = 2, kPull = 3, kPush = 4, kResult = 5, kStatus = 6 };
constexpr size_t kMaxStatus = 64u << 10;

struct Hello {
  Nonce nonce{};
};
// "This is my configuration": the answer to a HELLO, and after every change.
struct Offer {
  uint64_t generation = 0;
  Hash hash{};
};
// "Send me yours" (GET): answered with a Push.
struct Pull {};
struct Push {
  Bundle bundle;
};
enum class ResultStatus : uint8_t { kApplied = 0, kRefused = 1, kConflict = 2, kOlder = 3, kCurrent = 4 };
struct Result {
  ResultStatus status = ResultStatus::kApplied;
  uint64_t generation = 0;  // the receiver's generation after the push
  Hash hash{};
  std::vector<std::string> messages;  // compiler errors and warnings, or why not
};
// "How I am doing", every few seconds: the node's own status as JSON text
// (CARP states, for the peers' status pages). Opaque to the protocol, at most
// kMaxStatus bytes; the receiver treats it as untrusted data.
struct Status {
  std::string text;
};
using Message = std::variant<Hello, Offer, Pull, Push, Result, Status>;

struct Frame {
  uint32_t sender = 0;
  uint64_t counter = 0;
  Message message;
};

std::string_view ResultName(ResultStatus s);

// Encodes and authenticates one frame.
std::vector<uint8_t> EncodeFrame(const Frame& f, const Key& key);

// How long the frame starting at `prefix` is in total (header + body + MAC),
// once kHeaderSize bytes are there: nullopt while fewer bytes are available;
// 0 when the header is not a sync frame (bad magic, reserved bits, too long):
// the stream cannot be resynchronised and must be closed.
std::optional<size_t> FrameLength(const uint8_t* prefix, size_t available);

// The type byte of a whole frame (which key to verify it with), or nullopt.
std::optional<MsgType> PeekType(const uint8_t* data, size_t size);

enum class DecodeError { kTruncated, kBadMagic, kBadMac, kMalformed };
std::string_view DecodeErrorName(DecodeError e);

// Verifies the MAC with `key` (constant time), then decodes the body.
std::variant<Frame, DecodeError> DecodeFrame(const uint8_t* data, size_t size, const Key& key);

// The key of one connection's later frames: HMAC-SHA256(cluster key,
// "hapf-sync session" || initiator's nonce || responder's nonce).
Key SessionKey(const Key& cluster_key, const Nonce& initiator, const Nonce& responder);

}  // namespace hapf::sync
