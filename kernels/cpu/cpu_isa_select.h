// File: kernels/cpu/cpu_isa_select.h
//
// The SIMD level used by the attention and elementwise kernels, chosen once
// from the CPU's features (__builtin_cpu_supports) and overridable by tests
// and benchmarks so every code path can be checked on one machine.
//
// Thread safety: the Set* overrides must not race with kernel calls; the
// kernels themselves only read the selection (relaxed atomic loads).
#ifndef LLM_KERNELS_CPU_CPU_ISA_SELECT_H_
#define LLM_KERNELS_CPU_CPU_ISA_SELECT_H_

namespace llm::kernels {

enum class AttentionIsa { kAuto, kScalar, kAvx2, kAvx512 };

// The best level this CPU runs (never kAuto).
AttentionIsa DetectAttentionIsa();

// Forces `isa` for PagedAttention, WriteKvCache and RopeAndWriteKvCache;
// kAuto restores detection. Returns false (and changes nothing) when the CPU
// cannot run `isa`.
bool SetAttentionIsaForTesting(AttentionIsa isa);

// The same for the elementwise kernels (RmsNorm, Rope, SwiGlu, Softmax).
bool SetElementwiseIsaForTesting(AttentionIsa isa);

// The level the next attention / elementwise call will use.
AttentionIsa CurrentAttentionIsa();
AttentionIsa CurrentElementwiseIsa();

}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_CPU_ISA_SELECT_H_
