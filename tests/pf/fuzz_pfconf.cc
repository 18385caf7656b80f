// libFuzzer target for the pf.conf front end: any input must parse (or be
// rejected) without crashing, hanging or unbounded memory, and whatever
// parses must print and parse again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pf/lang_parser.h"
#include "pf/lang_printer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const hapf::pf::StaticHostEnvironment env = [] {
    hapf::pf::StaticHostEnvironment e = hapf::pf::StaticHostEnvironment::OpenBsdRegress();
    // No disk access while fuzzing: include and table files come from here.
    e.files = std::map<std::string, std::string>{{"/dev/null", ""}, {"t", "10.0.0.1\n"}};
    return e;
  }();
  hapf::pf::ParseOptions opts;
  opts.max_rules = 2000;
  opts.max_rules_per_statement = 500;
  std::string text(reinterpret_cast<const char*>(data), size);
  hapf::pf::ParseResult r = hapf::pf::ParsePfConf(text, env, opts);
  std::string printed = hapf::pf::FormatRuleset(r.ruleset);
  if (r.ok() && printed.size() < (1u << 20)) {
    hapf::pf::ParseResult again = hapf::pf::ParsePfConf(printed, env, opts);
    (void)again;
  }
  return 0;
}
