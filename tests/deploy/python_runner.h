// Runs one of the Python checks in tests/deploy/ from a GoogleTest, so CTest
// runs them with everything else. A script exits 77 (printing "SKIP: why")
// when a tool it needs is missing; the test then skips with that reason.
//
// Thread safety: a plain function; runs a child process.
#ifndef LLM_TESTS_DEPLOY_PYTHON_RUNNER_H_
#define LLM_TESTS_DEPLOY_PYTHON_RUNNER_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace llm::testing {

struct ScriptResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline ScriptResult RunScript(const std::string& command) {
  ScriptResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string SkipReason(const std::string& output) {
  const size_t at = output.find("SKIP: ");
  if (at == std::string::npos) return "skipped by the script";
  return output.substr(at, output.find('\n', at) - at);
}

}  // namespace llm::testing

#endif  // LLM_TESTS_DEPLOY_PYTHON_RUNNER_H_
