// File: scheduler/block_hash.h
//
// Content hash of a full KV block for prefix caching: a chain
// hash_i = H(hash_{i-1}, token ids of block i, salt), so equal hashes mean
// equal whole prefixes. 128 bits from two independently seeded 64-bit
// mixes over a canonical little-endian encoding: process-independent
// (unlike std::hash / absl::Hash) and collision-safe at pool scale.
#ifndef LLM_SCHEDULER_BLOCK_HASH_H_
#define LLM_SCHEDULER_BLOCK_HASH_H_

#include <cstdint>

#include "absl/types/span.h"

namespace llm {

struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const BlockHash& o) const { return hi == o.hi && lo == o.lo; }
  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& b) {
    return H::combine(std::move(h), b.hi, b.lo);
  }
};

// `salt` separates caches that must never share blocks (model file, KV
// dtype, adapter); the first block's parent is BlockHash{}.
BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens,
                    uint64_t salt);

}  // namespace llm

#endif  // LLM_SCHEDULER_BLOCK_HASH_H_
