// File: worker/decode_buckets.h
//
// Shape buckets of the CUDA backend's decode-step graphs (cuda_backend.h):
// a pure-decode step of n rows is padded to the next batch bucket and its
// longest context rounded up to a key bucket, so that a few captured CUDA
// graphs (one per (batch bucket, key bucket)) serve every step. Padding
// keeps results: padded rows write no KV (slot -1), attend to one key,
// and their logits are dropped; the GEMV is batch-invariant, and the buckets
// keep the GEMV/GEMM boundary (8 rows) where it was.
//
// Thread safety: pure functions.
#ifndef LLM_WORKER_DECODE_BUCKETS_H_
#define LLM_WORKER_DECODE_BUCKETS_H_

namespace llm {

// The largest pure-decode batch that is captured; larger steps run eagerly.
inline constexpr int kMaxGraphDecodeRows = 256;
// Decode attention splits contexts into partitions of this many keys.
inline constexpr int kGraphKeyQuantum = 512;

// 1, 2, 4, 8, 16, ..., 256: the next power of two >= n; n itself above 256
// (not captured) or for n <= 0.
constexpr int DecodeBatchBucket(int n) {
  if (n <= 0 || n > kMaxGraphDecodeRows) return n;
  int b = 1;
  while (b < n) b *= 2;
  return b;
}

// The key count a graph is captured for: the next power of two >= keys,
// at least kGraphKeyQuantum (a grid dimension of the decode kernel; larger
// than a row's context only adds partitions that exit at once).
constexpr int DecodeKeyBucket(int keys) {
  int b = kGraphKeyQuantum;
  while (b < keys) b *= 2;
  return b;
}

}  // namespace llm

#endif  // LLM_WORKER_DECODE_BUCKETS_H_
