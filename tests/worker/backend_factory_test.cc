// CreateBackend (worker/backend_factory.h): --backend selection, and the CPU
// fallback of a CUDA-enabled binary on a machine without a usable GPU.
#include "worker/backend_factory.h"

#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "worker/local_worker.h"

#if LLM_HAVE_CUDA
#include "worker/cuda_backend.h"
#endif

namespace llm {
namespace {

bool DeviceUsable() {
#if LLM_HAVE_CUDA
  return CudaDeviceCount().ok();
#else
  return false;
#endif
}

TEST(BackendFactoryTest, CpuChoiceGivesCpuBackend) {
  BackendChoice choice;
  choice.backend = "cpu";
  choice.cpu_threads = 1;
  auto b = CreateBackend(choice);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name().rfind("cpu(", 0), 0u) << (*b)->name();
}

TEST(BackendFactoryTest, AutoUsesCudaOnlyWhenADeviceIsUsable) {
  BackendChoice choice;
  choice.backend = "auto";
  choice.cpu_threads = 1;
  auto b = CreateBackend(choice);
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string want = DeviceUsable() ? "cuda(" : "cpu(";
  EXPECT_EQ((*b)->name().rfind(want, 0), 0u) << (*b)->name();
}

TEST(BackendFactoryTest, CudaChoiceWithoutDeviceFallsBackToCpu) {
  if (DeviceUsable()) GTEST_SKIP() << "a CUDA device is present; fallback not exercised";
  BackendChoice choice;
  choice.backend = "cuda";
  choice.cpu_threads = 1;
  auto b = CreateBackend(choice);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name().rfind("cpu(", 0), 0u) << (*b)->name();
}

TEST(BackendFactoryTest, UnknownChoiceIsInvalidArgument) {
  BackendChoice choice;
  choice.backend = "tpu";
  EXPECT_EQ(CreateBackend(choice).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BackendFactoryTest, CpuKvBudgetIsTheCpuDefault) {
  BackendChoice choice;
  choice.backend = "cpu";
  choice.cpu_threads = 1;
  auto b = CreateBackend(choice);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(DefaultKvCacheBytes(**b, 12345), 12345);
}

TEST(BackendFactoryTest, LocalWorkerWithCudaChoiceRunsWhereverItCan) {
  // A CUDA-enabled binary asked for --backend=cuda on a machine without a
  // GPU must come up on the CPU (and on the GPU where there is one).
  const std::string bin = LLM_BINARY_DIR "/bin/llm-make-model";
  const std::string path = ::testing::TempDir() + "/factory_tiny.gguf";
  const std::string cmd = bin + " --out " + path +
                          " --d-model 64 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 128"
                          " --n-vocab 300 --type Q4_1 --embedding-type Q8_0 >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) GTEST_SKIP() << "build llm-make-model first";
  WorkerOptions options;
  options.model_path = path;
  options.backend = "cuda";
  options.threads = 1;
  options.kv_cache_bytes = int64_t{4} << 20;
  auto worker = LocalWorker::Create(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  const std::string want = DeviceUsable() ? "cuda(" : "cpu(";
  EXPECT_EQ((*worker)->backend_name().rfind(want, 0), 0u) << (*worker)->backend_name();
  EXPECT_GT((*worker)->kv_shape().num_blocks, 0);
}

}  // namespace
}  // namespace llm
