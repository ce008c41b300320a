// The device sampler's Philox (kernels/cuda/philox.cuh, compiled here for
// the host) draws the same uniforms as the CPU sampler (worker/sampler.h),
// so a seeded request samples from the same number on either backend.
#include "kernels/cuda/philox.cuh"

#include "gtest/gtest.h"
#include "worker/sampler.h"

namespace llm {
namespace {

TEST(CudaPhiloxTest, UniformMatchesHostSamplerForManyCounters) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0xDEADBEEFCAFEF00Dull}}) {
    for (uint64_t step = 0; step < 200; step += 7) {
      for (uint64_t sample = 0; sample < 3; ++sample) {
        const double want = PhiloxUniform(seed, step, sample);
        EXPECT_EQ(cuda::PhiloxUniform53(seed, step, sample), want)
            << seed << " " << step << " " << sample;
        EXPECT_GE(want, 0.0);
        EXPECT_LT(want, 1.0);
      }
    }
  }
}

TEST(CudaPhiloxTest, KnownAnswerOfRandom123ZeroVector) {
  // Random123 kat_vectors: philox4x32 R=10, ctr 0, key 0 ->
  // 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
  const cuda::Philox4 out = cuda::Philox4x32_10(cuda::Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(out.v[0], 0x6627e8d5u);
  EXPECT_EQ(out.v[1], 0xe169c58du);
  EXPECT_EQ(out.v[2], 0xbc57ac4cu);
  EXPECT_EQ(out.v[3], 0x9b00dbd8u);
}

}  // namespace
}  // namespace llm
