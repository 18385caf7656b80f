// A gtest fixture around one Engine with one interface and a fake clock.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "engine_test_util.h"
#include "pf/engine.h"

namespace hapf::pf::engine::testing {

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { ifp = e.AddInterface("em0"); }
  void Load(std::vector<Rule> rules) {
    Ruleset rs;
    rs.rules = std::move(rules);
    e.LoadRuleset(std::move(rs));
  }
  Verdict Run(Direction d, std::vector<uint8_t>& p) { return e.Test(d, ifp, p, now); }
  Verdict In(std::vector<uint8_t>&& p) { return Run(Direction::kIn, p); }
  Verdict Out(std::vector<uint8_t>&& p) { return Run(Direction::kOut, p); }
  // pass proto tcp to port `port` keep state (overload <table> flush [global]).
  static Rule OverloadRule(std::shared_ptr<Table> table, uint16_t port, bool global) {
    Rule r = PassRule();
    r.proto = kProtoTcp;
    r.dport = {{PortRange::Op::kEq, port, 0}};
    r.overload = std::move(table);
    r.overload_flush = true;
    r.overload_flush_global = global;
    return r;
  }
  // Purges the whole (small) table at the current time.
  void PurgeAll() { e.Purge(now, 1 << 16); }

  Engine e;
  InterfaceId ifp = 0;
  TimeNs now = 1000 * kSec;
};

}  // namespace hapf::pf::engine::testing
