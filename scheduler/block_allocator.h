// File: scheduler/block_allocator.h
//
// BlockAllocator owns the ids of the physical KV blocks of one worker group.
// Invariants:
//   (1) Each block id is on the free list or has ref_count >= 1.
//   (2) num_free() + num_used() == num_blocks().
// Thread safety: thread-compatible; only the engine loop calls it.
#ifndef LLM_SCHEDULER_BLOCK_ALLOCATOR_H_
#define LLM_SCHEDULER_BLOCK_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llm {

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);

  int num_blocks() const { return static_cast<int>(ref_counts_.size()); }
  int num_free() const { return static_cast<int>(free_.size()); }
  int num_used() const { return num_blocks() - num_free(); }

  // `n` blocks with ref_count 1, or ResourceExhausted. Never partial.
  absl::StatusOr<std::vector<int32_t>> Allocate(int n);
  // REQUIRES: ref_count(id) >= 1.
  void AddRef(int32_t id);
  // REQUIRES: ref_count(id) >= 1. The last release frees the block.
  void Release(int32_t id);
  int ref_count(int32_t id) const { return ref_counts_[id]; }

  // Internal error describing the first broken invariant.
  absl::Status CheckInvariants() const;

 private:
  std::vector<int32_t> ref_counts_;
  std::vector<int32_t> free_;  // LIFO: recently freed blocks are warm
};

}  // namespace llm

#endif  // LLM_SCHEDULER_BLOCK_ALLOCATOR_H_
