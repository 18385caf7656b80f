// The pf.conf parser: text in, typed Ruleset out, with every error reported
// the way pfctl reports it (`stdin:12: message`, plus the few unprefixed
// address messages). Parsing continues after an error so that all errors are
// found; a ruleset with any error must not be loaded.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pf/ast.h"
#include "pf/lang_host.h"

namespace hapf::pf {

struct ParseOptions {
  std::string filename = "stdin";  // used in error messages
  // -D name=value: wins over assignments in the file.
  std::vector<std::pair<std::string, std::string>> defines;
  bool no_dns = false;  // -N: host names are not resolved
  // Resource limits, so that hostile input cannot exhaust memory or time.
  int max_anchor_depth = 32;          // nested inline anchors
  int max_include_depth = 16;         // nested include / load anchor
  size_t max_rules_per_statement = 65536;  // one rule's list expansion
  size_t max_rules = 1u << 20;             // rules in the whole ruleset
  size_t max_list_items = 65536;           // items in one { } list
};

struct ParseResult {
  Ruleset ruleset;
  // Messages in the order pfctl prints them to stderr, one per entry, without newline.
  std::vector<std::string> messages;
  int error_count = 0;
  bool ok() const { return error_count == 0; }
};

ParseResult ParsePfConf(std::string_view text, const HostEnvironment& env,
                        const ParseOptions& options = {});

}  // namespace hapf::pf
