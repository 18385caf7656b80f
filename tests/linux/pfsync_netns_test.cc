// Runs the namespace scenarios of pfsync_netns.sh with two real pfsync nodes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "run_command.h"

namespace {

std::string RunScenario(const std::string& scenario) {
  const std::string cmd = std::string("bash ") + HAPF_SOURCE_DIR + "/tests/linux/pfsync_netns.sh " +
                          HAPF_BINARY_DIR + "/tests/linux/pfsync_node_prog " + PFSYNC_ORACLE + " " + scenario +
                          " 2>&1";
  return hapf::testing::RunShell(cmd);
}

class PfsyncNetnsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PfsyncNetnsTest, Scenario) {
  const std::string out = RunScenario(GetParam());
  EXPECT_NE(out.find(std::string("PASS ") + GetParam()), std::string::npos) << out;
  std::printf("%s", out.c_str());
}

INSTANTIATE_TEST_SUITE_P(Linux, PfsyncNetnsTest, ::testing::Values("replicate", "forged", "storm"));

}  // namespace
