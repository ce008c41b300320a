// File: scheduler/prefix_index.cc
#include "scheduler/prefix_index.h"

#include <algorithm>

namespace llm {

std::vector<BlockHash> PromptBlockHashes(absl::Span<const int32_t> tokens, int block_size,
                                         uint64_t salt, int max_blocks) {
  std::vector<BlockHash> hashes;
  if (block_size <= 0) return hashes;
  const int full = std::min<int>(static_cast<int>(tokens.size()) / block_size, max_blocks);
  hashes.reserve(full);
  BlockHash parent;
  for (int i = 0; i < full; ++i) {
    parent = HashBlock(parent, tokens.subspan(static_cast<size_t>(i) * block_size, block_size),
                       salt);
    hashes.push_back(parent);
  }
  return hashes;
}

void PrefixIndex::Record(absl::Span<const BlockHash> hashes) {
  absl::MutexLock lock(&mu_);
  for (const BlockHash& h : hashes) {
    if (!set_.insert(h).second) continue;
    order_.push_back(h);
    if (order_.size() > capacity_) {
      set_.erase(order_.front());
      order_.pop_front();
    }
  }
}

int PrefixIndex::MatchLength(absl::Span<const BlockHash> hashes) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  while (n < static_cast<int>(hashes.size()) && set_.contains(hashes[n])) ++n;
  return n;
}

void PrefixIndex::Clear() {
  absl::MutexLock lock(&mu_);
  set_.clear();
  order_.clear();
}

size_t PrefixIndex::size() const {
  absl::MutexLock lock(&mu_);
  return order_.size();
}

}  // namespace llm
