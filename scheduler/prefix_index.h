// File: scheduler/prefix_index.h
//
// PrefixIndex: which prompt blocks a worker group has recently been given,
// as chained block-content hashes (the same hashes the engine's prefix
// cache uses), for prefix-aware routing: a request whose prompt starts with
// blocks a group has seen goes there, where they are likely still cached.
// It is an approximation of the group's cache, kept outside the engine so
// that the router never waits for the engine loop: bounded (oldest entries
// forgotten first) and cleared when the group loses its worker.
//
// Thread safety: thread-safe.
#ifndef LLM_SCHEDULER_PREFIX_INDEX_H_
#define LLM_SCHEDULER_PREFIX_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/block_hash.h"

namespace llm {

// Chained hashes of the first full blocks of `tokens` (at most max_blocks),
// as Engine::TakePrefixHits computes them.
std::vector<BlockHash> PromptBlockHashes(absl::Span<const int32_t> tokens, int block_size,
                                         uint64_t salt, int max_blocks);

class PrefixIndex {
 public:
  explicit PrefixIndex(size_t capacity = 1 << 16) : capacity_(capacity) {}

  void Record(absl::Span<const BlockHash> hashes);
  // How many leading entries of `hashes` were recorded.
  int MatchLength(absl::Span<const BlockHash> hashes) const;
  void Clear();
  size_t size() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<BlockHash> set_ ABSL_GUARDED_BY(mu_);
  std::deque<BlockHash> order_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace llm

#endif  // LLM_SCHEDULER_PREFIX_INDEX_H_
