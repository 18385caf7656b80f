// Runs the namespace scenarios of pfsync_netns.sh with two real pfsync nodes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

std::string RunScenario(const std::string& scenario) {
  const std::string cmd = std::string("bash ") + HAPF_SOURCE_DIR + "/tests/linux/pfsync_netns.sh " +
                          HAPF_BINARY_DIR + "/tests/linux/pfsync_node_prog " + PFSYNC_ORACLE + " " + scenario +
                          " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class PfsyncNetnsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PfsyncNetnsTest, Scenario) {
  const std::string out = RunScenario(GetParam());
  EXPECT_NE(out.find(std::string("PASS ") + GetParam()), std::string::npos) << out;
  std::printf("%s", out.c_str());
}

INSTANTIATE_TEST_SUITE_P(Linux, PfsyncNetnsTest, ::testing::Values("replicate", "forged"));

}  // namespace
