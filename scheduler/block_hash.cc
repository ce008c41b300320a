#include "scheduler/block_hash.h"

namespace llm {
namespace {

// 64-bit multiply-xorshift mixing (splitmix/murmur finaliser family).
inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

uint64_t Hash64(uint64_t seed, const BlockHash& parent,
                absl::Span<const int32_t> tokens, uint64_t salt) {
  uint64_t h = Mix(seed, salt);
  h = Mix(h, parent.hi);
  h = Mix(h, parent.lo);
  h = Mix(h, tokens.size());
  for (int32_t t : tokens) h = Mix(h, static_cast<uint32_t>(t));
  return h;
}

}  // namespace

BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens,
                    uint64_t salt) {
  return {Hash64(0x243F6A8885A308D3ull, parent, tokens, salt),
          Hash64(0x13198A2E03707344ull, parent, tokens, salt)};
}

}  // namespace llm
