// The sync frame decoder on arbitrary bytes: FrameLength and DecodeFrame must
// never crash; an input that decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sync/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hapf::sync;
  static const Key kKey(32, 0x5a);
  (void)FrameLength(data, size);
  (void)PeekType(data, size);
  auto d = DecodeFrame(data, size, kKey);
  // Also the body decoders behind a valid MAC: re-sign the input as a frame.
  if (size >= kHeaderSize + kMacSize) {
    std::vector<uint8_t> copy(data, data + size);
    // Fix the length field to the body actually present, then sign.
    const size_t body = size - kHeaderSize - kMacSize;
    for (int i = 0; i < 4; ++i) copy[20 + i] = static_cast<uint8_t>(body >> (24 - 8 * i));
    auto d2 = DecodeFrame(copy.data(), copy.size(), kKey);
    (void)d2;
  }
  if (auto* f = std::get_if<Frame>(&d)) {
    std::vector<uint8_t> again = EncodeFrame(*f, kKey);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  return 0;
}
