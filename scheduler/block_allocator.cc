#include "scheduler/block_allocator.h"

#include "absl/strings/str_format.h"
#include "common/check.h"

namespace llm {

BlockAllocator::BlockAllocator(int num_blocks)
    : ref_counts_(num_blocks, 0),
      lru_pos_(num_blocks),
      in_lru_(num_blocks, 0),
      hash_of_(num_blocks) {
  free_.reserve(num_blocks);
  // Hand out low ids first.
  for (int i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

absl::StatusOr<std::vector<int32_t>> BlockAllocator::Allocate(int n) {
  if (n < 0 || n > num_free()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "need %d KV blocks, %d free of %d", n, num_free(), num_blocks()));
  }
  std::vector<int32_t> out;
  out.reserve(n);
  while (static_cast<int>(out.size()) < n && !free_.empty()) {
    out.push_back(free_.back());
    free_.pop_back();
  }
  while (static_cast<int>(out.size()) < n) {
    const int32_t id = evictable_.front();
    evictable_.pop_front();
    in_lru_[id] = 0;
    Uncache(id);
    out.push_back(id);
  }
  for (int32_t id : out) ref_counts_[id] = 1;
  return out;
}

void BlockAllocator::AddRef(int32_t id) {
  LLM_CHECK(ref_counts_[id] >= 1) << "AddRef on free block " << id;
  ++ref_counts_[id];
}

void BlockAllocator::Release(int32_t id) {
  LLM_CHECK(ref_counts_[id] >= 1) << "double free of block " << id;
  if (--ref_counts_[id] > 0) return;
  if (hash_of_[id].has_value()) {
    lru_pos_[id] = evictable_.insert(evictable_.end(), id);
    in_lru_[id] = 1;
  } else {
    free_.push_back(id);
  }
}

std::optional<int32_t> BlockAllocator::Lookup(const BlockHash& hash) {
  auto it = cache_.find(hash);
  if (it == cache_.end()) return std::nullopt;
  const int32_t id = it->second;
  if (in_lru_[id]) {
    evictable_.erase(lru_pos_[id]);
    in_lru_[id] = 0;
  }
  ++ref_counts_[id];
  return id;
}

void BlockAllocator::Register(int32_t id, const BlockHash& hash) {
  LLM_CHECK(ref_counts_[id] >= 1) << "registering free block " << id;
  if (hash_of_[id].has_value() || cache_.contains(hash)) return;
  hash_of_[id] = hash;
  cache_.emplace(hash, id);
}

void BlockAllocator::Uncache(int32_t id) {
  if (!hash_of_[id].has_value()) return;
  cache_.erase(*hash_of_[id]);
  hash_of_[id].reset();
}

absl::Status BlockAllocator::CheckInvariants() const {
  std::vector<int> seen(ref_counts_.size(), 0);
  for (int32_t id : free_) {
    if (id < 0 || id >= num_blocks()) {
      return absl::InternalError(absl::StrFormat("free list holds bad id %d", id));
    }
    if (seen[id]++) return absl::InternalError(absl::StrFormat("block %d freed twice", id));
    if (ref_counts_[id] != 0 || hash_of_[id].has_value()) {
      return absl::InternalError(absl::StrFormat(
          "block %d is free but has ref_count %d or a hash", id, ref_counts_[id]));
    }
  }
  for (int32_t id : evictable_) {
    if (seen[id]++) {
      return absl::InternalError(absl::StrFormat("block %d both free and evictable", id));
    }
    if (ref_counts_[id] != 0 || !hash_of_[id].has_value() || !in_lru_[id]) {
      return absl::InternalError(absl::StrFormat("evictable block %d is inconsistent", id));
    }
  }
  for (int id = 0; id < num_blocks(); ++id) {
    if (!seen[id] && ref_counts_[id] < 1) {
      return absl::InternalError(absl::StrFormat("block %d leaked", id));
    }
    if (seen[id] && ref_counts_[id] != 0) {
      return absl::InternalError(absl::StrFormat("block %d free and owned", id));
    }
  }
  for (const auto& [hash, id] : cache_) {
    if (!hash_of_[id].has_value() || !(*hash_of_[id] == hash)) {
      return absl::InternalError(absl::StrFormat("cache entry of block %d is stale", id));
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
