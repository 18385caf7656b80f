// Two and three real hapfd nodes with configuration sync in network namespaces
// (tests/sync/sync_netns.sh): a push from A is enforced by B's filter on real
// pings within a second, a ruleset B cannot compile is refused with B's
// message at A (hapfctl exits non-zero), a forged frame is counted, B
// catches up after being offline, and pushed CARP settings run at once on both
// nodes with B's own advskew kept.
#include <gtest/gtest.h>

#include "run_command.h"

namespace {

TEST(SyncNetns, TwoNodes) {
  const std::string out = hapf::testing::RunShell(std::string("bash ") + HAPF_SOURCE_DIR +
                                                  "/tests/sync/sync_netns.sh " + HAPFD + " " + HAPFCTL + " 2>&1");
  for (const char* check : {"initial ping passes", "push applied", "backup blocks ping within 1 s",
                            "backup pf.conf written", "hapfd.conf stays local", "refused by the backup, exit non-zero",
                            "backup still enforces the old rules", "forged and truncated frames counted",
                            "push with backup offline", "backup caught up",
                            "carp0: A MASTER, B BACKUP before the push", "carp push applied",
                            "B runs advbase 2 with its own advskew 100, no restart", "B knows the new VIP",
                            "B hostname.carp0 keeps its local words", "A (MASTER) carries the new VIP on carp0"}) {
    EXPECT_NE(out.find(std::string("CHECK ") + check + " ok"), std::string::npos) << check << "\n" << out;
  }
  EXPECT_EQ(out.find(" FAIL"), std::string::npos) << out;
}

// Three nodes on one LAN (tests/sync/sync_netns3.sh): both backups enforce a
// push on real pings, both refuse a ruleset naming A's own interface, an
// offline third node catches up while the second follows.
TEST(SyncNetns, ThreeNodes) {
  const std::string out = hapf::testing::RunShell(std::string("bash ") + HAPF_SOURCE_DIR +
                                                  "/tests/sync/sync_netns3.sh " + HAPFD + " " + HAPFCTL + " 2>&1");
  for (const char* check : {"initial pings pass", "push applied on both backups", "both backups block pings",
                            "refused by both backups", "backups keep their rules", "push with D offline",
                            "B follows", "D caught up"}) {
    EXPECT_NE(out.find(std::string("CHECK ") + check + " ok"), std::string::npos) << check << "\n" << out;
  }
  EXPECT_EQ(out.find(" FAIL"), std::string::npos) << out;
}

}  // namespace
