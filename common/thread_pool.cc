#include "common/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define LLM_CPU_RELAX() _mm_pause()
#else
#define LLM_CPU_RELAX() std::this_thread::yield()
#endif

namespace llm {
namespace {
// Pause-spins before a waiter blocks in the kernel (futex via C++20
// std::atomic::wait). A decode step issues a parallel region every few
// microseconds, so on an idle machine waiters almost always see the change
// while spinning. When the machine is oversubscribed (tests in parallel, other
// processes) the thread we wait for may not be running: spinning or yielding
// then burns the very core it needs, and one step can cost milliseconds per
// region. Blocking after a bounded spin degrades gracefully instead.
constexpr int kSpinIterations = 1 << 11;

// Waits until `word` no longer holds `value`.
template <typename T>
void SpinThenWait(const std::atomic<T>& word, T value) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (word.load(std::memory_order_acquire) != value) return;
    LLM_CPU_RELAX();
  }
  while (word.load(std::memory_order_acquire) == value) {
    word.wait(value, std::memory_order_acquire);
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
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Run(absl::FunctionRef<void(int, int)> fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  current_ = &fn;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  fn(0, num_threads_);
  for (int left = pending_.load(std::memory_order_acquire); left != 0;
       left = pending_.load(std::memory_order_acquire)) {
    SpinThenWait(pending_, left);
  }
  current_ = nullptr;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    SpinThenWait(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    (*current_)(index, num_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::Barrier() {
  if (num_threads_ == 1) return;
  const uint32_t sense = barrier_sense_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == num_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_sense_.store(sense + 1, std::memory_order_release);
    barrier_sense_.notify_all();
    return;
  }
  SpinThenWait(barrier_sense_, sense);
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
