// Runs the namespace scenarios of carp_netns.sh with the real carp_node.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "run_command.h"

namespace {

std::string RunScenario(const std::string& scenario) {
  const std::string cmd = std::string("bash ") + HAPF_SOURCE_DIR + "/tests/linux/carp_netns.sh " +
                          HAPF_BINARY_DIR + "/tests/linux/carp_node " + scenario + " 2>&1";
  return hapf::testing::RunShell(cmd);
}

class CarpNetnsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CarpNetnsTest, Scenario) {
  const std::string out = RunScenario(GetParam());
  EXPECT_NE(out.find(std::string("PASS ") + GetParam()), std::string::npos) << out;
  std::printf("%s", out.c_str());
}

INSTANTIATE_TEST_SUITE_P(Linux, CarpNetnsTest,
                         ::testing::Values("elect", "sigkill", "linkdown", "preempt", "track", "carppeer",
                                           "ucarp_hapf_master", "ucarp_ucarp_master", "ipv6"));

}  // namespace
