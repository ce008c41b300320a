// File: kernels/cuda/philox.cuh
//
// Philox-4x32-10 (Salmon et al., SC11; Random123's philox4x32_R(10)) as a
// __host__ __device__ function, and the 53-bit uniform in [0, 1) that
// worker/sampler.h's PhiloxUniform draws for (seed, counter_hi, counter_lo),
// so that the device sampler and the host sampler use the same number for
// the same request step (checked by tests/worker/cuda_philox_test.cc).
//
// Thread safety: pure functions.
#ifndef LLM_KERNELS_CUDA_PHILOX_CUH_
#define LLM_KERNELS_CUDA_PHILOX_CUH_

#include <cstdint>

#include "kernels/cuda/paged_index.cuh"  // LLM_HD

namespace llm::cuda {

struct Philox4 {
  uint32_t v[4];
};

LLM_HD Philox4 Philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// Uniform [0, 1) with 53 random bits: word 0 high, top 21 bits of word 1.
LLM_HD double PhiloxUniform53(uint64_t seed, uint64_t counter_hi,
                              uint64_t counter_lo) {
  const Philox4 ctr{{static_cast<uint32_t>(counter_lo),
                     static_cast<uint32_t>(counter_lo >> 32),
                     static_cast<uint32_t>(counter_hi),
                     static_cast<uint32_t>(counter_hi >> 32)}};
  const Philox4 out = Philox4x32_10(ctr, static_cast<uint32_t>(seed),
                                    static_cast<uint32_t>(seed >> 32));
  const uint64_t bits = (static_cast<uint64_t>(out.v[0]) << 21) | (out.v[1] >> 11);
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);  // 2^-53
}

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_PHILOX_CUH_
