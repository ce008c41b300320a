// File: kernels/cpu/cpu_isa_select.cc
#include "kernels/cpu/cpu_isa_select.h"

#include <atomic>

namespace llm::kernels {
namespace {

std::atomic<AttentionIsa> g_attention_override{AttentionIsa::kAuto};
std::atomic<AttentionIsa> g_elementwise_override{AttentionIsa::kAuto};

bool CpuRuns(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kAuto:
    case AttentionIsa::kScalar:
      return true;
    case AttentionIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case AttentionIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && CpuRuns(AttentionIsa::kAvx2);
  }
  return false;
}

AttentionIsa Resolve(AttentionIsa forced) {
  return forced == AttentionIsa::kAuto ? DetectAttentionIsa() : forced;
}

}  // namespace

AttentionIsa DetectAttentionIsa() {
  static const AttentionIsa detected = [] {
    if (CpuRuns(AttentionIsa::kAvx512)) return AttentionIsa::kAvx512;
    if (CpuRuns(AttentionIsa::kAvx2)) return AttentionIsa::kAvx2;
    return AttentionIsa::kScalar;
  }();
  return detected;
}

bool SetAttentionIsaForTesting(AttentionIsa isa) {
  if (!CpuRuns(isa)) return false;
  g_attention_override.store(isa, std::memory_order_relaxed);
  return true;
}

bool SetElementwiseIsaForTesting(AttentionIsa isa) {
  if (!CpuRuns(isa)) return false;
  g_elementwise_override.store(isa, std::memory_order_relaxed);
  return true;
}

AttentionIsa CurrentAttentionIsa() {
  return Resolve(g_attention_override.load(std::memory_order_relaxed));
}

AttentionIsa CurrentElementwiseIsa() {
  return Resolve(g_elementwise_override.load(std::memory_order_relaxed));
}

}  // namespace llm::kernels
