// File: kernels/cpu/matmul_internal.h
//
// Internal to kernels/cpu/matmul*: activation-quantisation buffers, the
// 16-row packed weight layout, and the per-ISA entry points that matmul.cc
// dispatches to. Not for use outside the matmul kernels and their tests.
//
// Packed group layout (Q4_0, Q4_1, Q8_0), for 16 rows and nb 32-blocks:
//   qs:  nb * kQsBytes: block b holds kQsBytes/64 vectors of 64 bytes;
//        vector k, 32-bit lane j = bytes [4k, 4k+4) of row j's qs (Q8_0:
//        each byte XOR 0x80, i.e. q + 128 as unsigned).
//   d:   nb * 32 bytes: 16 fp16 scales of block b.
//   m:   nb * 32 bytes (Q4_1 only): 16 fp16 mins of block b.
// Rows past the matrix end are zero. A 32-bit lane of a qs vector times a
// broadcast 4-byte chunk of activations is one vpdpbusd step for 16 rows.
//
// Thread safety: stateless functions.
#ifndef LLM_KERNELS_CPU_MATMUL_INTERNAL_H_
#define LLM_KERNELS_CPU_MATMUL_INTERNAL_H_

#include <cstddef>
#include <cstdint>

#include "common/ggml_types.h"
#include "kernels/cpu/matmul.h"

namespace llm::kernels::internal {

constexpr int kGroupRows = 16;

// Grow-only, 64-byte aligned buffer for thread_local scratch: no allocation
// on the steady-state hot path, freed when the thread exits.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer();
  uint8_t* Get(size_t bytes);

 private:
  uint8_t* buf_ = nullptr;
  size_t cap_ = 0;
};

// Q8 activations per 32-block, shared by the Q8_0 and Q8_1 partners (x86
// llama.cpp quantises both identically: d = amax/127, q = round_even(x *
// 127/amax)); Q8_1 additionally carries s = fp16(d * Σq).
struct Q8Acts {
  int64_t nb = 0;           // blocks per token
  int8_t* q = nullptr;      // [T][nb * 32]
  float* d = nullptr;       // [T][nb]  f32 of the fp16 d
  float* s = nullptr;       // [T][nb]  f32 of the fp16 s (Q8_1)
  int32_t* sum = nullptr;   // [T][nb]  Σq (offset corrections, exact)
};

// Q8_K activations per 256-block (K-quant partner): f32 d = max/-127 with
// the sign of the largest-magnitude element, as ggml's quantize_row_q8_K.
struct Q8KActs {
  int64_t nb = 0;             // 256-blocks per token
  int8_t* q = nullptr;        // [T][nb * 256]
  float* d = nullptr;         // [T][nb]
  int32_t* bsums = nullptr;   // [T][nb * 16] sums of 16 consecutive q
};

struct Acts {
  const float* x = nullptr;  // [T][cols] f32 (float weight types)
  int64_t cols = 0;
  int n_tokens = 0;
  Q8Acts q8;                 // valid when some weight needs Q8_0/Q8_1
  Q8KActs q8k;               // valid when some weight needs Q8_K
};

// Rows [r0, r1) of one matrix for all tokens. r0 % kGroupRows == 0.
struct RowsTask {
  const WeightMatrix* w = nullptr;
  const uint8_t* packed = nullptr;  // PackedWeightMatrix::packed or null
  uint64_t group_stride = 0;
  int64_t r0 = 0, r1 = 0;
  float* y = nullptr;  // y[t * ldy + r]
  int64_t ldy = 0;
};

enum class ActsKind { kNone, kQ8, kQ8K };
ActsKind ActsKindFor(GgmlType type);

// Quantises tokens [t0, t1) of x into a.q8 / a.q8k. All ISAs produce
// identical bytes.
void QuantizeQ8Scalar(const float* x, int64_t cols, int t0, int t1, const Q8Acts& a);
void QuantizeQ8Avx2(const float* x, int64_t cols, int t0, int t1, const Q8Acts& a);
void QuantizeQ8K(const float* x, int64_t cols, int t0, int t1, const Q8KActs& a);

void ComputeRowsScalar(const RowsTask& task, const Acts& acts);
void ComputeRowsAvx2(const RowsTask& task, const Acts& acts);
void ComputeRowsAvx512(const RowsTask& task, const Acts& acts);
// F32/F16/BF16 weights (AVX2+FMA+F16C; also used by the AVX-512 path).
void FloatRowsAvx2(const RowsTask& task, const Acts& acts);

// Packed layout helpers (baseline code; matmul_pack.cc).
bool HasPackedKernel(GgmlType type);
int QsBytesPerGroupBlock(GgmlType type);   // 256 (Q4_x) or 512 (Q8_0)
uint64_t PackedGroupBytes(GgmlType type, int64_t nb);
// Packs rows [r0, min(r0 + 16, w.rows)) of w into dst (PackedGroupBytes).
void PackGroup(const WeightMatrix& w, int64_t r0, uint8_t* dst);
// Same bytes as PackGroup, with AVX-512 in-register transposes
// (matmul_avx512.cc).
void PackGroupAvx512(const WeightMatrix& w, int64_t r0, uint8_t* dst);

// Scalar dot of one row of w with token t (tests and the scalar path).
float DotRowScalar(const WeightMatrix& w, int64_t row, const Acts& acts, int t);

}  // namespace llm::kernels::internal

#endif  // LLM_KERNELS_CPU_MATMUL_INTERNAL_H_
