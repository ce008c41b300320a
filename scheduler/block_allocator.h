// File: scheduler/block_allocator.h
//
// BlockAllocator owns the ids of the physical KV blocks of one worker group,
// with reference counts (blocks shared by parallel samples and common
// prefixes) and the prefix cache (full blocks findable by content hash).
// Invariants:
//   (1) Each block is in exactly one state: referenced (ref_count >= 1),
//       free (ref 0, no hash, on the free list) or evictable (ref 0, cached
//       with a hash, on the LRU list).
//   (2) num_free() + num_used() == num_blocks(); num_free() counts both free
//       and evictable blocks, since an evictable block is reused on demand.
//   (3) cache_[h] == b  <=>  hash_of_[b] == h.
// Thread safety: thread-compatible; only the engine loop calls it.
#ifndef LLM_SCHEDULER_BLOCK_ALLOCATOR_H_
#define LLM_SCHEDULER_BLOCK_ALLOCATOR_H_

#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/block_hash.h"

namespace llm {

class BlockAllocator {
 public:
  explicit BlockAllocator(int num_blocks);

  int num_blocks() const { return static_cast<int>(ref_counts_.size()); }
  int num_free() const {
    return static_cast<int>(free_.size() + evictable_.size());
  }
  int num_used() const { return num_blocks() - num_free(); }
  int num_cached() const { return static_cast<int>(cache_.size()); }

  // `n` blocks with ref_count 1, or ResourceExhausted. Never partial. Takes
  // never-cached blocks first, then evicts the least recently used cached.
  absl::StatusOr<std::vector<int32_t>> Allocate(int n);
  // REQUIRES: ref_count(id) >= 1.
  void AddRef(int32_t id);
  // REQUIRES: ref_count(id) >= 1. The last release frees the block, or
  // makes it evictable (most recently used) when it is cached.
  void Release(int32_t id);
  int ref_count(int32_t id) const { return ref_counts_[id]; }

  // Prefix cache. Lookup returns the block holding `hash` with one more
  // reference (reviving it from the LRU list), or nullopt.
  std::optional<int32_t> Lookup(const BlockHash& hash);
  // Records that referenced block `id` holds `hash`. No-op when the hash is
  // already cached (by this or another block) or the block has a hash.
  void Register(int32_t id, const BlockHash& hash);

  // Internal error describing the first broken invariant.
  absl::Status CheckInvariants() const;

 private:
  void Uncache(int32_t id);

  std::vector<int32_t> ref_counts_;
  std::vector<int32_t> free_;        // LIFO: recently freed blocks are warm
  std::list<int32_t> evictable_;     // LRU order: front is evicted first
  std::vector<std::list<int32_t>::iterator> lru_pos_;  // valid if evictable
  std::vector<char> in_lru_;
  std::vector<std::optional<BlockHash>> hash_of_;
  absl::flat_hash_map<BlockHash, int32_t> cache_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_BLOCK_ALLOCATOR_H_
