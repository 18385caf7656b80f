// Prints a parsed ruleset exactly as `pfctl -o none -nv` does: macros, set
// options and tables in parse order, then one line per expanded rule, with
// inline anchors as indented blocks.
#pragma once

#include <string>

#include "pf/ast.h"

namespace hapf::pf {

// pfctl's print_addr: "any", "10.0.0.0/8", "(lo0:network)", "<t>", "no-route",
// "a - b". `af` is the rule's family (decides whether "/32" is implied).
// Negation is not included.
std::string FormatAddress(const Address& a, Family af);
std::string FormatRule(const Rule& r);
std::string FormatTable(const Table& t);
std::string FormatOption(const Option& o);
std::string FormatMacro(const Macro& m);

struct PrintOptions {
  bool preamble = true;  // macros, options, tables
  bool tables = true;
  bool rules = true;
};

// The whole -nv printout (preamble items in parse order, then rules).
std::string FormatRuleset(const Ruleset& rs, const PrintOptions& options = {});
// Just the rules (with inline anchors), `indent` spaces deep.
std::string FormatRules(const Ruleset& rs, int indent = 0);

}  // namespace hapf::pf
