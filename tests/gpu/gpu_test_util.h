// File: tests/gpu/gpu_test_util.h
//
// Shared helpers of the GPU tests: the skip when no device is usable, a
// typed device array with upload/download and NaN poisoning (to catch
// elements a kernel never writes), and a seeded random fill.
//
// Thread safety: test-only, one thread.
#ifndef LLM_TESTS_GPU_GPU_TEST_UTIL_H_
#define LLM_TESTS_GPU_GPU_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#if LLM_HAVE_CUDA
#include <cuda_runtime_api.h>

namespace llm::gputest {

// Empty when a device is usable, else why not ("no CUDA device: ...").
inline std::string NoDeviceReason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(e);
  }
  if (count == 0) return "no CUDA device: cudaGetDeviceCount returned 0";
  return "";
}

#define LLM_REQUIRE_CUDA_DEVICE()                                   \
  do {                                                              \
    const std::string why = ::llm::gputest::NoDeviceReason();       \
    if (!why.empty()) GTEST_SKIP() << why;                          \
  } while (0)

// Owns n elements of T in device memory.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p_), (n == 0 ? 1 : n) * sizeof(T)), cudaSuccess);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    Upload(host);
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return p_; }
  size_t size() const { return n_; }
  void Upload(const std::vector<T>& host) {
    ASSERT_EQ(cudaMemcpy(p_, host.data(), host.size() * sizeof(T),
                         cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> Download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }
  // All bytes 0xFF: NaN for float, so unwritten outputs fail any comparison.
  void Poison() { ASSERT_EQ(cudaMemset(p_, 0xFF, n_ * sizeof(T)), cudaSuccess); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace llm::gputest
#endif  // LLM_HAVE_CUDA

namespace llm::gputest {

// n uniform values in [lo, hi), never all zero.
inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// |got - want| <= atol + rtol * |want| for every element, with the first
// failures reported by index.
template <typename G, typename W>
::testing::AssertionResult AllClose(const std::vector<G>& got,
                                    const std::vector<W>& want, double rtol,
                                    double atol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "size " << got.size() << " != " << want.size();
  }
  int bad = 0;
  std::string msg;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!(std::abs(g - w) <= atol + rtol * std::abs(w))) {
      if (++bad <= 5) {
        msg += " [" + std::to_string(i) + "] got " + std::to_string(g) + " want " +
               std::to_string(w) + ";";
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " mismatches:" << msg;
}

}  // namespace llm::gputest

#endif  // LLM_TESTS_GPU_GPU_TEST_UTIL_H_
