// The ruleset compiler: the language's typed AST (pf/ast.h, namespace
// hapf::pf) into the engine's evaluated form, installed into an Engine
// together with the tables and the `set` options.
#pragma once

#include <string>
#include <vector>

#include "pf/ast.h"
#include "pf/engine.h"

namespace hapf::pf::engine {

struct CompileResult {
  // Constructs hapf does not enforce yet, one message each with the source
  // line. Rules using them are compiled "fail closed": an unsupported match
  // condition makes a pass rule never match and is ignored on a block rule.
  std::vector<std::string> warnings;
  size_t rules = 0;    // main-ruleset rules
  size_t anchors = 0;
};

// Compiles `src` and loads it (rules, anchors, tables, options) into `e`.
CompileResult CompileAndLoad(const hapf::pf::Ruleset& src, Engine& e);

// The prefixes that exactly cover first..last (an address range).
std::vector<net::Prefix> RangeToPrefixes(const net::IpAddr& first, const net::IpAddr& last);

}  // namespace hapf::pf::engine
