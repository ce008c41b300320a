// Tests of deploy/docker/entrypoint.sh, the container entrypoint, run
// outside a container (CI has no Docker daemon): fake llm-worker and
// llm-scheduler scripts in a temporary LLM_BIN_DIR record the command line
// and environment they are exec'd with, and each test checks that record,
// the exit status and the files the script leaves.
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const char kEntrypoint[] = LLM_SOURCE_DIR "/deploy/docker/entrypoint.sh";

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

struct Result {
  int exit_code = -1;
  std::string output;               // stdout and stderr of the script
  std::vector<std::string> argv;    // what the fake binary got: argv[0], args...
  std::string env_model;            // LLM_WORKER_MODEL / LLM_SCHEDULER_MODEL seen
};

class EntrypointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/entrypoint_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    bin_ = dir_ / "bin";
    models_ = dir_ / "models";
    fs::create_directories(bin_);
    fs::create_directories(models_);
    // Each fake binary writes argv (one per line) and then exits 0.
    for (const char* name : {"llm-worker", "llm-scheduler"}) {
      const fs::path p = bin_ / name;
      WriteFile(p,
                "#!/usr/bin/env bash\n"
                "{ printf '%s\\n' \"$0\" \"$@\"; } > \"$FAKE_OUT\"\n"
                "printf '%s' \"${LLM_WORKER_MODEL:-}${LLM_SCHEDULER_MODEL:-}\" "
                "> \"$FAKE_OUT.env\"\n");
      fs::permissions(p, fs::perms::owner_all);
    }
    model_ = models_ / "model.gguf";
  }

  void TearDown() override { fs::remove_all(dir_); }

  // Runs the entrypoint with a clean environment plus `env`.
  Result Run(const std::vector<std::string>& args,
             std::map<std::string, std::string> env = {}) {
    const fs::path out = dir_ / "argv";
    fs::remove(out);
    fs::remove(dir_ / "argv.env");
    env.emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
    env.emplace("LLM_BIN_DIR", bin_.string());
    env.emplace("FAKE_OUT", out.string());
    env.emplace("TMPDIR", dir_.string());
    env.emplace("LLM_MODEL_WAIT_SECONDS", "0");
    std::string cmd = "env -i";
    for (const auto& [k, v] : env) cmd.append(" ").append(k).append("=").append(Quote(v));
    cmd.append(" bash ").append(Quote(kEntrypoint));
    for (const std::string& a : args) cmd.append(" ").append(Quote(a));
    cmd.append(" > ").append(Quote((dir_ / "output").string())).append(" 2>&1");
    Result r;
    const int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.output = ReadFile(dir_ / "output");
    if (fs::exists(out)) r.argv = Lines(ReadFile(out));
    if (fs::exists(dir_ / "argv.env")) r.env_model = ReadFile(dir_ / "argv.env");
    return r;
  }

  fs::path dir_, bin_, models_, model_;
};

TEST_F(EntrypointTest, WorkerRoleExecsWorkerWithModelFromLlmModel) {
  WriteFile(model_, "GGUF");
  Result r = Run({"worker", "--listen", "0.0.0.0:50061", "--threads", "4"},
                 {{"LLM_MODEL", model_.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.argv, ElementsAre((bin_ / "llm-worker").string(), "--model", model_.string(),
                                  "--listen", "0.0.0.0:50061", "--threads", "4"));
}

TEST_F(EntrypointTest, RoleFromEnvironmentWhenFirstArgumentIsAFlag) {
  WriteFile(model_, "GGUF");
  Result r = Run({"--workers", "w-0:50061,w-1:50061"},
                 {{"LLM_ROLE", "scheduler"}, {"LLM_MODEL", model_.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.argv, ElementsAre((bin_ / "llm-scheduler").string(), "--model",
                                  model_.string(), "--workers", "w-0:50061,w-1:50061"));
}

TEST_F(EntrypointTest, ModelFlagInArgumentsIsNotRepeated) {
  WriteFile(model_, "GGUF");
  Result r = Run({"scheduler", "--model=" + model_.string(), "--workers", "a:1"},
                 {{"LLM_MODEL", "/nonexistent/other.gguf"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.argv, ElementsAre((bin_ / "llm-scheduler").string(),
                                  "--model=" + model_.string(), "--workers", "a:1"));
}

TEST_F(EntrypointTest, BinaryEnvironmentVariableWinsOverLlmModel) {
  WriteFile(model_, "GGUF");
  Result r = Run({"worker"}, {{"LLM_WORKER_MODEL", model_.string()},
                              {"LLM_MODEL", "/nonexistent/other.gguf"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.argv,
              ElementsAre((bin_ / "llm-worker").string(), "--model", model_.string()));
  EXPECT_EQ(r.env_model, model_.string());
}

TEST_F(EntrypointTest, MissingModelFailsClearlyWithoutStartingTheService) {
  Result r = Run({"worker"}, {{"LLM_MODEL", model_.string()}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("model " + model_.string() + " not found after 0s"));
  EXPECT_TRUE(r.argv.empty());
}

TEST_F(EntrypointTest, WaitsForAModelThatAppearsLater) {
  // Another process (an init container in a pod) writes the file 1 s later.
  const std::string writer = "(sleep 1; printf GGUF > " + Quote(model_.string()) + ") &";
  ASSERT_EQ(std::system(writer.c_str()), 0);
  Result r = Run({"worker"}, {{"LLM_MODEL", model_.string()},
                              {"LLM_MODEL_WAIT_SECONDS", "20"}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("waiting up to 20s"));
  ASSERT_EQ(r.argv.size(), 3u);
  EXPECT_EQ(r.argv[2], model_.string());
}

TEST_F(EntrypointTest, FetchModelFromFileUrlThenStartsWorker) {
  const fs::path source = dir_ / "source.gguf";
  WriteFile(source, "GGUF-weights");
  const std::string hash_cmd =
      "sha256sum " + Quote(source.string()) + " > " + Quote((dir_ / "sha").string());
  ASSERT_EQ(std::system(hash_cmd.c_str()), 0);
  const std::string digest = ReadFile(dir_ / "sha").substr(0, 64);
  Result r = Run({"worker"}, {{"LLM_MODEL", model_.string()},
                              {"LLM_FETCH_MODEL", "1"},
                              {"LLM_MODEL_URL", "file://" + source.string()},
                              {"LLM_MODEL_SHA256", digest}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFile(model_), "GGUF-weights");
  EXPECT_THAT(r.argv,
              ElementsAre((bin_ / "llm-worker").string(), "--model", model_.string()));
}

TEST_F(EntrypointTest, FetchWithWrongChecksumLeavesNoModelAndDoesNotStart) {
  const fs::path source = dir_ / "source.gguf";
  WriteFile(source, "GGUF-weights");
  Result r = Run({"worker"}, {{"LLM_MODEL", model_.string()},
                              {"LLM_FETCH_MODEL", "1"},
                              {"LLM_MODEL_URL", "file://" + source.string()},
                              {"LLM_MODEL_SHA256", std::string(64, '0')}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("expected " + std::string(64, '0')));
  EXPECT_FALSE(fs::exists(model_));
  EXPECT_TRUE(r.argv.empty());
  // No partial file is left behind in the model directory either.
  EXPECT_TRUE(fs::is_empty(models_));
}

TEST_F(EntrypointTest, FetchModelRoleFetchesAndExitsWithoutStartingAService) {
  const fs::path source = dir_ / "source.gguf";
  WriteFile(source, "GGUF-weights");
  Result r = Run({"fetch-model"}, {{"LLM_MODEL", model_.string()},
                                   {"LLM_MODEL_URL", "file://" + source.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFile(model_), "GGUF-weights");
  EXPECT_TRUE(r.argv.empty());
  // A second run finds the file and does not fetch again.
  fs::remove(source);
  Result again = Run({"fetch-model"}, {{"LLM_MODEL", model_.string()},
                                       {"LLM_MODEL_URL", "file://" + source.string()}});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("already present"));
}

TEST_F(EntrypointTest, FetchIntoUnwritableDirectoryFailsClearly) {
  // The model's directory cannot be created (its parent is a regular file),
  // which also holds for root, unlike a read-only directory.
  WriteFile(dir_ / "not-a-dir", "x");
  const fs::path model = dir_ / "not-a-dir" / "model.gguf";
  Result r = Run({"fetch-model"}, {{"LLM_MODEL", model.string()},
                                   {"LLM_MODEL_URL", "file:///dev/null"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr((dir_ / "not-a-dir").string() +
                                  " is not a writable directory"));
}

TEST_F(EntrypointTest, OtherCommandsAreExecutedAsGiven) {
  Result r = Run({"echo", "hello", "world"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "hello world\n");
  EXPECT_TRUE(r.argv.empty());
}

TEST_F(EntrypointTest, NoRoleIsAnError) {
  Result r = Run({"--threads", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no role"));
  Result bad = Run({}, {{"LLM_ROLE", "router"}});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("unknown role 'router'"));
}

TEST_F(EntrypointTest, ExitStatusOfTheServiceIsTheContainers) {
  // exec replaces the script, so the service's status is what Kubernetes sees.
  WriteFile(model_, "GGUF");
  WriteFile(bin_ / "llm-worker", "#!/usr/bin/env bash\nexit 7\n");
  Result r = Run({"worker"}, {{"LLM_MODEL", model_.string()}});
  EXPECT_EQ(r.exit_code, 7);
}

}  // namespace
