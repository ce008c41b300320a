// Runs a built binary with a shell command line and captures its combined
// output and exit code, for CLI tests.
#ifndef LLM_TESTS_TOOLS_RUN_BINARY_H_
#define LLM_TESTS_TOOLS_RUN_BINARY_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace llm::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

inline std::string BinaryPath(const std::string& name) {
  return std::string(LLM_BINARY_DIR) + "/bin/" + name;
}

inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace llm::testing

#endif  // LLM_TESTS_TOOLS_RUN_BINARY_H_
