#include "common/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define LLM_CPU_RELAX() _mm_pause()
#else
#define LLM_CPU_RELAX() std::this_thread::yield()
#endif

namespace llm {
namespace {
// Spin iterations before a worker sleeps; ~50-100 us on current x86, long
// enough to bridge the gap between two kernels of one step.
constexpr int kSpinIterations = 1 << 16;
// Pause-spins before a waiter starts yielding its core. When the machine is
// oversubscribed (tests in parallel, other processes) the thread we wait for
// may not be running; yielding lets it run instead of burning our slice.
constexpr int kPauseSpinsBeforeYield = 1 << 12;

// Waits until pred() holds: pause-spin first, then yield.
template <typename Pred>
void SpinWait(Pred pred) {
  for (int i = 0; !pred(); ++i) {
    if (i < kPauseSpinsBeforeYield) {
      LLM_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  sleep_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Run(absl::FunctionRef<void(int, int)> fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  current_ = &fn;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  // seq_cst on both sides: either a sleeping worker's increment of
  // sleepers_ is visible here (and we notify under the lock), or the worker
  // sees the new generation before it blocks.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    sleep_cv_.notify_all();
  }
  fn(0, num_threads_);
  SpinWait([&] { return pending_.load(std::memory_order_acquire) == 0; });
  current_ = nullptr;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      LLM_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(sleep_mu_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      sleep_cv_.wait(lock, [&] {
        return generation_.load(std::memory_order_seq_cst) != seen;
      });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    (*current_)(index, num_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::Barrier() {
  if (num_threads_ == 1) return;
  const uint32_t sense = barrier_sense_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == num_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_sense_.store(sense + 1, std::memory_order_release);
    return;
  }
  SpinWait([&] { return barrier_sense_.load(std::memory_order_acquire) != sense; });
}

std::pair<int64_t, int64_t> SplitRange(int64_t n, int thread, int num_threads,
                                       int64_t align) {
  if (align < 1) align = 1;
  const int64_t units = (n + align - 1) / align;
  const int64_t per = units / num_threads;
  const int64_t extra = units % num_threads;
  const int64_t begin_unit = thread * per + std::min<int64_t>(thread, extra);
  const int64_t end_unit = begin_unit + per + (thread < extra ? 1 : 0);
  return {std::min(n, begin_unit * align), std::min(n, end_unit * align)};
}

}  // namespace llm
