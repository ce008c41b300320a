// MatMul dispatch: picks the ISA, quantises x once per call into
// thread-local scratch, then splits 16-row groups of all matrices over the
// pool in one parallel region. Kernels live in matmul_{scalar,avx2,avx512}.cc.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "common/fp16.h"
#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels {
namespace {

using internal::Acts;
using internal::ActsKind;
using internal::kGroupRows;
using internal::RowsTask;

std::atomic<MatMulIsa> g_forced_isa{MatMulIsa::kAuto};

bool CpuHasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  return has;
}

bool CpuHasAvx512() {
  static const bool has = CpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
  return has;
}

size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }

// One matrix of a (shared) call.
struct Job {
  const WeightMatrix* w;
  const uint8_t* packed;
  uint64_t group_stride;
  float* y;
  int64_t groups;
};

void RunJobs(ThreadPool& pool, const Job* jobs, int n_jobs, const float* x, int n_tokens) {
  if (n_jobs == 0 || n_tokens <= 0) return;
  const MatMulIsa isa = ActiveMatMulIsa();
  const int64_t cols = jobs[0].w->cols;
  bool need_q8 = false, need_q8k = false;
  for (int i = 0; i < n_jobs; ++i) {
    const ActsKind k = internal::ActsKindFor(jobs[i].w->type);
    need_q8 |= k == ActsKind::kQ8;
    need_q8k |= k == ActsKind::kQ8K;
  }

  Acts acts;
  acts.x = x;
  acts.cols = cols;
  acts.n_tokens = n_tokens;
  size_t bytes = 0;
  const size_t T = n_tokens;
  if (need_q8) bytes += AlignUp(T * cols) + 3 * AlignUp(T * (cols / 32) * 4);
  if (need_q8k) bytes += AlignUp(T * cols) + AlignUp(T * (cols / 256) * 4) + AlignUp(T * (cols / 256) * 64);
  static thread_local internal::ScratchBuffer scratch;
  uint8_t* p = scratch.Get(bytes);
  if (need_q8) {
    auto& a = acts.q8;
    a.nb = cols / 32;
    a.q = reinterpret_cast<int8_t*>(p), p += AlignUp(T * cols);
    a.d = reinterpret_cast<float*>(p), p += AlignUp(T * a.nb * 4);
    a.s = reinterpret_cast<float*>(p), p += AlignUp(T * a.nb * 4);
    a.sum = reinterpret_cast<int32_t*>(p), p += AlignUp(T * a.nb * 4);
  }
  if (need_q8k) {
    auto& a = acts.q8k;
    a.nb = cols / 256;
    a.q = reinterpret_cast<int8_t*>(p), p += AlignUp(T * cols);
    a.d = reinterpret_cast<float*>(p), p += AlignUp(T * a.nb * 4);
    a.bsums = reinterpret_cast<int32_t*>(p), p += AlignUp(T * a.nb * 64);
  }

  int64_t total_groups = 0;
  for (int i = 0; i < n_jobs; ++i) total_groups += jobs[i].groups;

  pool.Run([&](int thread, int num_threads) {
    if (need_q8 || need_q8k) {
      const auto [t0, t1] = SplitRange(n_tokens, thread, num_threads);
      if (t0 < t1) {
        if (need_q8) {
          if (isa == MatMulIsa::kScalar) {
            internal::QuantizeQ8Scalar(x, cols, t0, t1, acts.q8);
          } else {
            internal::QuantizeQ8Avx2(x, cols, t0, t1, acts.q8);
          }
        }
        if (need_q8k) internal::QuantizeQ8K(x, cols, t0, t1, acts.q8k);
      }
      pool.Barrier();
    }
    const auto [g0, g1] = SplitRange(total_groups, thread, num_threads);
    int64_t base = 0;
    for (int i = 0; i < n_jobs; ++i) {
      const Job& job = jobs[i];
      const int64_t lo = std::max(g0, base), hi = std::min(g1, base + job.groups);
      if (lo < hi) {
        RowsTask task;
        task.w = job.w;
        task.packed = isa == MatMulIsa::kAvx512 ? job.packed : nullptr;
        task.group_stride = job.group_stride;
        task.r0 = (lo - base) * kGroupRows;
        task.r1 = std::min(job.w->rows, (hi - base) * kGroupRows);
        task.y = job.y;
        task.ldy = job.w->rows;
        switch (isa) {
          case MatMulIsa::kAvx512:
            internal::ComputeRowsAvx512(task, acts);
            break;
          case MatMulIsa::kAvx2:
            internal::ComputeRowsAvx2(task, acts);
            break;
          default:
            internal::ComputeRowsScalar(task, acts);
        }
      }
      base += job.groups;
    }
  });
}

Job MakeJob(const WeightMatrix& w, const uint8_t* packed, uint64_t stride, float* y) {
  return Job{&w, packed, stride, y, (w.rows + kGroupRows - 1) / kGroupRows};
}

constexpr int kMaxShared = 8;

}  // namespace

namespace internal {

ScratchBuffer::~ScratchBuffer() {
  if (buf_ != nullptr) ::operator delete(buf_, std::align_val_t{64});
}

uint8_t* ScratchBuffer::Get(size_t bytes) {
  if (bytes > cap_) {
    if (buf_ != nullptr) ::operator delete(buf_, std::align_val_t{64});
    cap_ = std::max(bytes, cap_ * 2);
    buf_ = static_cast<uint8_t*>(::operator new(cap_, std::align_val_t{64}));
  }
  return buf_;
}

ActsKind ActsKindFor(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
      return ActsKind::kQ8;
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return ActsKind::kQ8K;
    default:
      return ActsKind::kNone;
  }
}
}  // namespace internal

bool MatMulSupports(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

bool MatMulIsaAvailable(MatMulIsa isa) {
  switch (isa) {
    case MatMulIsa::kAvx512:
      return CpuHasAvx512();
    case MatMulIsa::kAvx2:
      return CpuHasAvx2();
    default:
      return true;
  }
}

void SetMatMulIsaForTesting(MatMulIsa isa) { g_forced_isa.store(isa, std::memory_order_relaxed); }

MatMulIsa ActiveMatMulIsa() {
  const MatMulIsa forced = g_forced_isa.load(std::memory_order_relaxed);
  if (forced != MatMulIsa::kAuto) return forced;
  if (CpuHasAvx512()) return MatMulIsa::kAvx512;
  if (CpuHasAvx2()) return MatMulIsa::kAvx2;
  return MatMulIsa::kScalar;
}

void MatMul(ThreadPool& pool, const WeightMatrix& w, const float* x, int n_tokens, float* y) {
  const Job job = MakeJob(w, nullptr, 0, y);
  RunJobs(pool, &job, 1, x, n_tokens);
}

void MatMul(ThreadPool& pool, const PackedWeightMatrix& w, const float* x, int n_tokens,
            float* y) {
  const Job job = MakeJob(w.source, w.packed.get(), w.group_stride, y);
  RunJobs(pool, &job, 1, x, n_tokens);
}

void MatMulShared(ThreadPool& pool, absl::Span<const WeightMatrix> ws, const float* x,
                  int n_tokens, absl::Span<float* const> ys) {
  for (size_t i0 = 0; i0 < ws.size(); i0 += kMaxShared) {
    Job jobs[kMaxShared];
    const int n = static_cast<int>(std::min<size_t>(kMaxShared, ws.size() - i0));
    for (int i = 0; i < n; ++i) jobs[i] = MakeJob(ws[i0 + i], nullptr, 0, ys[i0 + i]);
    RunJobs(pool, jobs, n, x, n_tokens);
  }
}

void MatMulShared(ThreadPool& pool, absl::Span<const PackedWeightMatrix> ws, const float* x,
                  int n_tokens, absl::Span<float* const> ys) {
  for (size_t i0 = 0; i0 < ws.size(); i0 += kMaxShared) {
    Job jobs[kMaxShared];
    const int n = static_cast<int>(std::min<size_t>(kMaxShared, ws.size() - i0));
    for (int i = 0; i < n; ++i) {
      const PackedWeightMatrix& p = ws[i0 + i];
      jobs[i] = MakeJob(p.source, p.packed.get(), p.group_stride, ys[i0 + i]);
    }
    RunJobs(pool, jobs, n, x, n_tokens);
  }
}

}  // namespace llm::kernels
