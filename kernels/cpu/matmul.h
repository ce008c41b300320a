// File: kernels/cpu/matmul.h
//
// Quantised matrix products on the CPU: y = x · Wᵀ with W kept in its ggml
// block format (never dequantised to memory). Activations are quantised on
// the fly per block as llama.cpp does (Q8_1 for Q4_1; Q8_0 for Q4_0 and
// Q8_0; Q8_K for K-quants; F32/F16/BF16 weights take f32 x), with the same
// scale, rounding (x86: 127/amax, ties to even) and fp16 storage, so results
// track llama.cpp's numerics. SIMD is chosen at run time (AVX-512 VNNI,
// AVX2, scalar); work is split over output rows across the pool in units of
// 16 rows, and every output element is computed by the same sequence of
// operations whatever the token count, thread count or row split, so a
// token's result does not depend on the batch it is in.
//
// Weights may be repacked once at load time (PackForCpu) into a 16-row
// interleaved layout of the same size that the AVX-512 kernels stream
// without shuffles; packed and unpacked calls give bit-identical results.
// Callers that care about decode speed should pack: at 1-8 tokens the
// unpacked path transposes each 16-row group on the fly, which measured
// ~1.8x slower on the Q8_0 LM head and up to 2x on cache-resident Q4_1.
//
// Thread safety: stateless apart from the test-only ISA override; each call
// uses thread-local scratch. One MatMul per pool at a time (pool rule).
#ifndef LLM_KERNELS_CPU_MATMUL_H_
#define LLM_KERNELS_CPU_MATMUL_H_

#include <cstdint>
#include <memory>

#include "absl/types/span.h"
#include "common/ggml_types.h"
#include "common/thread_pool.h"

namespace llm::kernels {

// `rows` rows of `cols` elements of `type`; row r starts at
// data + r * row_stride (bytes). Points into the mmapped GGUF.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  uint64_t row_stride = 0;
};

// A WeightMatrix plus, for Q4_0/Q4_1/Q8_0 on AVX-512 machines, a copy
// repacked into 16-row groups (same bytes per weight). `source` must outlive
// it (scalar/AVX2 paths and DequantizeRow read the original). Movable.
struct PackedWeightMatrix {
  WeightMatrix source;
  // Null when the type or CPU has no packed kernel; MatMul then uses source.
  std::shared_ptr<const uint8_t> packed;
  uint64_t group_stride = 0;  // bytes per 16-row group in `packed`
};

// Whether MatMul/DequantizeRow handle this weight type.
bool MatMulSupports(GgmlType type);

// y: [n_tokens, w.rows] (row stride w.rows), x: [n_tokens, w.cols], f32.
// REQUIRES: MatMulSupports(w.type), w.cols a multiple of the block size.
void MatMul(ThreadPool& pool, const WeightMatrix& w, const float* x,
            int n_tokens, float* y);
void MatMul(ThreadPool& pool, const PackedWeightMatrix& w, const float* x,
            int n_tokens, float* y);

// Several weight matrices with the same `cols` applied to the same x (Q/K/V,
// gate/up): x is quantised once and all rows of all matrices are split over
// the pool in one parallel region. ys[i]: [n_tokens, ws[i].rows].
// REQUIRES: all ws have the same cols; ys.size() == ws.size().
void MatMulShared(ThreadPool& pool, absl::Span<const WeightMatrix> ws,
                  const float* x, int n_tokens, absl::Span<float* const> ys);
void MatMulShared(ThreadPool& pool, absl::Span<const PackedWeightMatrix> ws,
                  const float* x, int n_tokens, absl::Span<float* const> ys);

// Repacks w for the AVX-512 kernels (see PackedWeightMatrix). Costs one pass
// over w; call once at load time.
PackedWeightMatrix PackForCpu(const WeightMatrix& w);

// out[0..w.cols) = row `row` of w, dequantised (embedding lookup). Exact:
// each element is computed in f32 from the stored fields as ggml does.
void DequantizeRow(const WeightMatrix& w, int64_t row, float* out);

// Instruction set used by the kernels. kAuto = best this CPU supports.
enum class MatMulIsa { kAuto, kScalar, kAvx2, kAvx512 };
bool MatMulIsaAvailable(MatMulIsa isa);
// Forces the ISA for later calls (tests, benchmarks). Not thread-safe with
// concurrent MatMul calls. REQUIRES: MatMulIsaAvailable(isa).
void SetMatMulIsaForTesting(MatMulIsa isa);
// The ISA the next call will use (kAuto resolved).
MatMulIsa ActiveMatMulIsa();

}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_MATMUL_H_
