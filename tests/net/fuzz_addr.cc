// Address and prefix text parsing: pf.conf and ifconfig lines reach it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/addr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto p = hapf::net::Prefix::Parse(text)) {
    auto round = hapf::net::Prefix::Parse(p->ToString());
    if (!round || !(*round == *p)) __builtin_trap();
    (void)p->Normalized().Contains(p->addr);
  }
  return 0;
}
