// Runs tests/deploy/monitoring_test.py: promtool check config / check rules
// / test rules on deploy/monitoring, the Grafana dashboard's structure, and
// against a live llm-worker + llm-scheduler on loopback: every metric name in
// the dashboard and the alerts is exported, and Debian's prometheus scrapes
// both and serves llm_requests_total through its HTTP API. Skips when
// promtool is missing; the live part skips without the binaries or model.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/python_runner.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MonitoringTest, RulesConfigDashboardAndLiveScrapeAgree) {
  const std::string cmd = std::string("python3 ") + LLM_SOURCE_DIR +
                          "/tests/deploy/monitoring_test.py --bin-dir " + LLM_BINARY_DIR +
                          "/bin";
  llm::testing::ScriptResult r = llm::testing::RunScript(cmd);
  if (r.exit_code == 77) GTEST_SKIP() << llm::testing::SkipReason(r.output);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\nOK")) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("FAIL"))) << r.output;
  // Say in the CTest log which parts were skipped (binaries not built ...).
  for (size_t at = r.output.find("skipped"); at != std::string::npos;
       at = r.output.find("skipped", at + 1)) {
    std::printf("%s\n", r.output.substr(at, r.output.find('\n', at) - at).c_str());
  }
}

}  // namespace
