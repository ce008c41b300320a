// File: common/thread_pool.h
//
// ThreadPool: a fixed set of threads that run one function together, for the
// fork-join parallelism of the CPU kernels. A decode step of a 135M model is
// ~1-2 ms and issues hundreds of parallel regions, so dispatch latency
// matters more than generality: waiters spin briefly, then block on a futex
// (std::atomic::wait), and the calling thread takes part as thread 0.
//
// Thread safety: Run() must be called from one thread at a time (the owner,
// typically the worker's step loop). Barrier() may only be called from inside
// a function passed to Run(), by every thread of the pool.
//
// Example:
//   ThreadPool pool(2);
//   pool.Run([&](int thread, int num_threads) {
//     auto [begin, end] = SplitRange(rows, thread, num_threads);
//     for (int r = begin; r < end; ++r) y[r] = Dot(w[r], x);
//   });
#ifndef LLM_COMMON_THREAD_POOL_H_
#define LLM_COMMON_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"

namespace llm {

class ThreadPool {
 public:
  // `num_threads` counts the caller; values < 1 mean 1 (no extra threads).
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(thread_index, num_threads) on every thread of the pool; the
  // caller runs index 0. Returns when all calls have returned.
  void Run(absl::FunctionRef<void(int, int)> fn);

  // All threads wait until every thread has reached this point.
  // REQUIRES: called inside Run() by all num_threads() threads.
  void Barrier();

 private:
  void WorkerLoop(int index);

  const int num_threads_;
  std::vector<std::thread> workers_;
  // The function of the current Run(); valid while a generation is active.
  const absl::FunctionRef<void(int, int)>* current_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  // Sense-reversing barrier.
  std::atomic<int> barrier_count_{0};
  std::atomic<uint32_t> barrier_sense_{0};
};

// [begin, end) of `n` items for `thread` of `num_threads`, in contiguous,
// near-equal chunks; with `align` > 1 chunk boundaries are multiples of it.
std::pair<int64_t, int64_t> SplitRange(int64_t n, int thread, int num_threads,
                                       int64_t align = 1);

}  // namespace llm

#endif  // LLM_COMMON_THREAD_POOL_H_
