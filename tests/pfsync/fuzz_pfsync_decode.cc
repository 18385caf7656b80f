// Any byte string through the strict decoder and the tcpdump-style printer:
// no out-of-bounds read, no crash, no hang; and whatever the decoder accepts
// re-encodes to a packet that decodes to the same values.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "pfsync/print.h"
#include "pfsync/wire.h"

using namespace hapf::pfsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  std::string text;
  PrintPacket(in, PrintOptions{2, size % 2 == 0}, text);

  static DecodedPacket d, again;
  if (DecodePacket(in, d) != DecodeError::kNone) return 0;
  PacketBuilder b(65535);
  for (const Region& r : d.regions) {
    if (r.skipped) continue;
    auto a = static_cast<Action>(r.action);
    for (size_t i = 0; i < r.count; ++i) {
      switch (a) {
        case Action::kIns:
        case Action::kUpd:
        case Action::kDel: b.AddState(a, d.states[r.first + i]); break;
        case Action::kUpdC: b.AddUpdC(d.upd_c[r.first + i]); break;
        case Action::kBus: b.AddBus(d.bus[r.first + i]); break;
        case Action::kClr: b.AddClr(d.clr[r.first + i]); break;
        case Action::kTdb: b.AddTdb(d.tdb[r.first + i]); break;
        default: b.AddId(a, d.ids[r.first + i]); break;
      }
    }
  }
  auto out = b.Finish();
  if (DecodePacket(out, again) != DecodeError::kNone) __builtin_trap();
  if (!(again.states == d.states) || !(again.upd_c == d.upd_c) || !(again.ids == d.ids) ||
      !(again.clr == d.clr) || !(again.bus == d.bus) || !(again.tdb == d.tdb))
    __builtin_trap();
  return 0;
}
