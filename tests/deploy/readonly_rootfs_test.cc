// Runs tests/deploy/readonly_rootfs_smoke.sh: the images' runtime layout
// without Docker. llm-worker and llm-scheduler start through
// deploy/docker/entrypoint.sh as uid 10001 on a read-only root filesystem
// (a chroot in a private mount namespace) with only /tmp writable, serve a
// generation, and drain and exit 0 on SIGTERM. Skips without root, mount
// namespaces, the built binaries or the model.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/python_runner.h"

namespace {

using ::testing::HasSubstr;

TEST(ReadonlyRootfsTest, ServicesRunAsNonRootOnReadOnlyRootAndDrain) {
  const std::string cmd = std::string("bash ") + LLM_SOURCE_DIR +
                          "/tests/deploy/readonly_rootfs_smoke.sh " + LLM_BINARY_DIR +
                          "/bin " + LLM_SOURCE_DIR + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  llm::testing::ScriptResult r = llm::testing::RunScript(cmd);
  if (r.exit_code == 77) GTEST_SKIP() << llm::testing::SkipReason(r.output);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("generated:  Paris")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("PASS: worker and scheduler ran as uid 10001")) << r.output;
}

}  // namespace
