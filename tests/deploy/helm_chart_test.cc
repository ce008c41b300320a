// Runs tests/deploy/helm_chart_test.py (the Helm chart rendered and linted
// by Helm's engine, objects validated against the Kubernetes schemas,
// yamllint, bad values rejected, command-line flags checked against the
// built binaries' --help). Skips when its Python packages are missing
// (scripts/setup.sh installs them).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/python_runner.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HelmChartTest, ChartRendersLintsValidatesAndUsesOnlyKnownFlags) {
  const std::string cmd = std::string("python3 ") + LLM_SOURCE_DIR +
                          "/tests/deploy/helm_chart_test.py --bin-dir " + LLM_BINARY_DIR +
                          "/bin";
  llm::testing::ScriptResult r = llm::testing::RunScript(cmd);
  if (r.exit_code == 77) GTEST_SKIP() << llm::testing::SkipReason(r.output);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\nOK")) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("FAIL"))) << r.output;
  // Print what the script reported as pending (flags the binaries lack yet).
  if (r.output.find("PENDING") != std::string::npos) {
    const size_t at = r.output.find("PENDING");
    std::printf("%s\n", r.output.substr(at, r.output.find('\n', at) - at).c_str());
  }
}

}  // namespace
