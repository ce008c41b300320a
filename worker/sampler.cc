// File: worker/sampler.cc
//
// Cost model (vocab V = 49152). Every call makes one vectorised pass over
// the raw logits for the argmax and the log-softmax normaliser that the
// reported logprob needs; greedy adds nothing more unless penalties may have
// moved the argmax. Sampling never sorts the vocabulary: top-k is a bounded
// heap (one compare per id) followed by k exps; top-p first drops every id
// provably outside the nucleus, then grows a sorted prefix geometrically;
// the plain temperature path walks the CDF in id order, skipping whole
// blocks by their partial sums. Temperature is folded into the weights, never
// written back, so the raw logits stay available for logprobs; penalties
// touch only the penalised ids and remember their raw values. Scratch
// buffers are thread_local: no allocation in steady state except `top`.
#include "worker/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "worker/sampler_simd.h"

namespace llm {
namespace {

// ---------------------------------------------------------------- Philox

struct PhiloxBlock {
  uint32_t v[4];
};

inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// Philox-4x32-10 (Salmon et al., SC11), as Random123's philox4x32_R(10).
PhiloxBlock Philox4x32_10(PhiloxBlock ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kM0, ctr.v[0], &hi0, &lo0);
    MulHiLo(kM1, ctr.v[2], &hi1, &lo1);
    ctr = PhiloxBlock{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// ---------------------------------------------------------------- scratch

using sampler_internal::ArgMax;
using sampler_internal::kBlock;
using sampler_internal::SumExp;

// Per-thread buffers sized to the vocabulary on first use.
struct Scratch {
  std::vector<float> weights;                        // [vocab]
  std::vector<float> block_sums;                     // [vocab / kBlock]
  std::vector<int32_t> index;                        // [vocab]
  std::vector<int32_t> counts;                       // [vocab], all zero between calls
  std::vector<uint8_t> touched;                      // [vocab], all zero between calls
  std::vector<std::pair<int32_t, float>> originals;  // raw logits of penalised ids
};

Scratch& GetScratch(size_t vocab) {
  thread_local Scratch scratch;
  if (scratch.counts.size() < vocab) {
    scratch.weights.resize(vocab);
    scratch.block_sums.resize(vocab / kBlock + 1);
    scratch.index.resize(vocab);
    scratch.counts.assign(vocab, 0);
    scratch.touched.assign(vocab, 0);
  }
  return scratch;
}

// Strict "more likely" order: larger logit first, ties to the lower id.
struct MoreLikely {
  const float* logits;
  bool operator()(int32_t a, int32_t b) const {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  }
};

// The k most likely ids of x[0, n) into out[0, k), sorted most likely first.
// A bounded heap whose least likely member sits on top: one compare per id
// for the common case, ~k log(n/k) insertions on average.
void TopK(const float* x, int32_t n, int32_t k, int32_t* out) {
  const MoreLikely more{x};
  for (int32_t i = 0; i < k; ++i) out[i] = i;
  std::make_heap(out, out + k, more);
  float worst = x[out[0]];
  for (int32_t i = k; i < n; ++i) {
    // Ids arrive in increasing order, so an equal logit never displaces.
    if (x[i] > worst) {
      std::pop_heap(out, out + k, more);
      out[k - 1] = i;
      std::push_heap(out, out + k, more);
      worst = x[out[0]];
    }
  }
  std::sort_heap(out, out + k, more);
}

// log softmax of the raw logits.
struct RawStats {
  float max = 0.0f;
  int32_t argmax = 0;
  double sum = 1.0;  // sum of exp(x - max)
  // (x - max) first avoids cancellation.
  float LogProb(float x) const {
    return static_cast<float>(static_cast<double>(x - max) - std::log(sum));
  }
};

// With `weights`, also stores exp(x - max) there and the block partial sums
// in scratch, for SampleFiltered to reuse at temperature 1 (two passes, as
// the stored terms need the final max); otherwise one fused pass.
RawStats ScanRaw(absl::Span<const float> x, Scratch* weights) {
  RawStats s;
  const int32_t n = static_cast<int32_t>(x.size());
  if (weights == nullptr) {
    const auto fused = sampler_internal::ArgMaxAndSumExp(x.data(), n);
    s.argmax = fused.argmax;
    s.max = fused.max;
    s.sum = fused.sum;
    return s;
  }
  s.argmax = ArgMax(x.data(), n);
  s.max = x[s.argmax];
  s.sum = SumExp(x.data(), n, s.max, 1.0f, 0.0f, weights->weights.data(),
                 weights->block_sums.data());
  return s;
}

// Applies the repetition, presence and frequency penalties in place and
// records each penalised id's raw logit (once) in scratch.originals.
// Returns whether any logit changed.
bool ApplyPenalties(absl::Span<float> logits, const SamplingParams& p,
                    const SamplingContext& ctx, Scratch& scratch) {
  const bool repetition = p.repetition_penalty != 1.0f;
  const bool additive = p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  scratch.originals.clear();
  if (!repetition && !additive) return false;
  const int32_t vocab = static_cast<int32_t>(logits.size());
  auto valid = [vocab](int32_t t) { return t >= 0 && t < vocab; };
  auto remember = [&](int32_t t) {
    if (!scratch.touched[t]) {
      scratch.touched[t] = 1;
      scratch.originals.emplace_back(t, logits[t]);
    }
  };
  if (repetition) {
    const float r = p.repetition_penalty;
    for (absl::Span<const int32_t> list : {ctx.prompt_tokens, ctx.generated_tokens}) {
      for (int32_t t : list) {
        if (!valid(t) || scratch.touched[t]) continue;
        remember(t);
        logits[t] = logits[t] > 0.0f ? logits[t] / r : logits[t] * r;
      }
    }
  }
  if (additive) {
    for (int32_t t : ctx.generated_tokens) {
      if (valid(t)) ++scratch.counts[t];
    }
    for (int32_t t : ctx.generated_tokens) {
      if (!valid(t) || scratch.counts[t] == 0) continue;  // already applied
      remember(t);
      logits[t] -= static_cast<float>(scratch.counts[t]) * p.frequency_penalty +
                   p.presence_penalty;
      scratch.counts[t] = 0;
    }
  }
  for (const auto& [t, raw] : scratch.originals) scratch.touched[t] = 0;
  return !scratch.originals.empty();
}

float RawLogit(absl::Span<const float> logits, const Scratch& scratch, int32_t token) {
  for (const auto& [t, raw] : scratch.originals) {
    if (t == token) return raw;
  }
  return logits[token];
}

// Inverse CDF over `ids` (ascending) with weights w[id].
int32_t InverseCdf(const int32_t* ids, int32_t n, const float* w, double u) {
  double total = 0.0;
  for (int32_t i = 0; i < n; ++i) total += w[ids[i]];
  const double target = u * total;
  double cum = 0.0;
  int32_t last = ids[0];
  for (int32_t i = 0; i < n; ++i) {
    const float wi = w[ids[i]];
    if (wi <= 0.0f) continue;
    cum += wi;
    last = ids[i];
    if (cum > target) return ids[i];
  }
  return last;  // rounding pushed the target past the end
}

// Inverse CDF over the whole vocabulary in id order; whole blocks are
// skipped by their partial sums. Falls back to `top` (weight 1) if
// rounding leaves the target unreached.
int32_t InverseCdfDense(const float* w, const float* block_sums, int32_t n, double total,
                        double u, int32_t top) {
  const double target = u * total;
  double cum = 0.0;
  int32_t last = top;
  for (int32_t b = 0; b < n; b += kBlock) {
    const float block = block_sums[b / kBlock];
    if (cum + block <= target) {
      cum += block;
      continue;
    }
    const int32_t end = std::min<int32_t>(n, b + kBlock);
    for (int32_t i = b; i < end; ++i) {
      if (w[i] <= 0.0f) continue;
      cum += w[i];
      last = i;
      if (cum > target) return i;
    }
  }
  return last;
}

// Zeroes weights below `floor` and recomputes the block sums; returns the
// new total. No exp: used when the weights are already there.
double ApplyFloor(float* w, float* block_sums, int32_t n, float floor) {
  double total = 0.0;
  for (int32_t b = 0; b < n; b += kBlock) {
    const int32_t end = std::min<int32_t>(n, b + kBlock);
    float block = 0.0f;
    for (int32_t i = b; i < end; ++i) {
      w[i] = w[i] < floor ? 0.0f : w[i];
      block += w[i];
    }
    block_sums[b / kBlock] = block;
    total += block;
  }
  return total;
}

// Temperature > 0. `logits` holds penalised logits, `top` their argmax.
// `raw_sum` > 0 says scratch.weights and block_sums already hold
// exp(x - max) (temperature 1, no penalty), summing to raw_sum.
int32_t SampleFiltered(absl::Span<const float> logits, int32_t top, const SamplingParams& p,
                       double u, double raw_sum, Scratch& scratch) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  const float* x = logits.data();
  float* w = scratch.weights.data();
  const float inv_t = 1.0f / p.temperature;
  const float max = x[top];
  const bool top_k = p.top_k > 0 && p.top_k < vocab;
  const bool top_p = p.top_p < 1.0f;
  // min-p keeps prob >= min_p * max_prob, i.e. weight exp((x - max) / T) >= min_p.
  const float min_w = p.min_p;

  const bool reuse = raw_sum > 0.0;
  if (!top_k && !top_p) {
    float* sums = scratch.block_sums.data();
    double total;
    if (!reuse) {
      total = SumExp(x, vocab, max, inv_t, min_w, w, sums);
    } else if (min_w > 0.0f) {
      total = ApplyFloor(w, sums, vocab, min_w);
    } else {
      total = raw_sum;
    }
    return InverseCdfDense(w, sums, vocab, total, u, top);
  }

  int32_t* idx = scratch.index.data();
  int32_t candidates;   // idx[0, candidates) hold the ids still in play
  int32_t sorted;       // idx[0, sorted) are in MoreLikely order
  double z = 0.0;       // softmax normaliser over the top-k set (or all)
  const MoreLikely more{x};
  if (top_k) {
    TopK(x, vocab, p.top_k, idx);
    candidates = sorted = p.top_k;
    for (int32_t i = 0; i < candidates; ++i) {
      w[idx[i]] = sampler_internal::Exp((x[idx[i]] - max) * inv_t);
      z += w[idx[i]];
    }
  } else {
    z = reuse ? raw_sum : SumExp(x, vocab, max, inv_t, 0.0f, w, nullptr);
    // Every id lighter than (1 - p) z / vocab lies beyond the nucleus: all
    // ids from it on in sorted order weigh < (1 - p) z together, so the
    // prefix before it already reaches p z. Halved for rounding headroom.
    const float cutoff = static_cast<float>(0.5 * (1.0 - p.top_p) * z / vocab);
    candidates = 0;
    for (int32_t i = 0; i < vocab; ++i) {
      idx[candidates] = i;
      candidates += w[i] >= cutoff;
    }
    sorted = 0;
  }

  int32_t kept = candidates;
  if (top_p) {
    // Grow a sorted prefix of the most likely candidates until its mass
    // reaches top_p * z; each growth step selects within the unsorted rest.
    const double need = static_cast<double>(p.top_p) * z;
    double cum = 0.0;
    int32_t scanned = 0;
    int32_t chunk = 64;
    kept = -1;
    while (kept < 0) {
      const int32_t end = std::min<int32_t>(candidates, std::max(sorted, scanned + chunk));
      if (end > sorted) {
        if (end < candidates) std::nth_element(idx + sorted, idx + end, idx + candidates, more);
        std::sort(idx + sorted, idx + end, more);
        sorted = end;
      }
      for (; scanned < end; ++scanned) {
        cum += w[idx[scanned]];
        if (cum >= need) {
          kept = scanned + 1;
          break;
        }
      }
      if (kept < 0 && end == candidates) kept = candidates;  // rounding: keep all
      chunk *= 8;
    }
  }
  if (min_w > 0.0f) {
    int32_t n = 0;
    for (int32_t i = 0; i < kept; ++i) {
      if (w[idx[i]] >= min_w) idx[n++] = idx[i];
    }
    kept = n;  // the top id has weight 1 >= min_p, so n >= 1
  }
  std::sort(idx, idx + kept);
  return InverseCdf(idx, kept, w, u);
}

}  // namespace

double PhiloxUniform(uint64_t seed, uint64_t counter_hi, uint64_t counter_lo) {
  const PhiloxBlock ctr{{static_cast<uint32_t>(counter_lo),
                         static_cast<uint32_t>(counter_lo >> 32),
                         static_cast<uint32_t>(counter_hi),
                         static_cast<uint32_t>(counter_hi >> 32)}};
  const PhiloxBlock out = Philox4x32_10(ctr, static_cast<uint32_t>(seed),
                                        static_cast<uint32_t>(seed >> 32));
  // 53 bits: all 32 of word 0 as the high part, the top 21 of word 1 below.
  const uint64_t bits = (static_cast<uint64_t>(out.v[0]) << 21) | (out.v[1] >> 11);
  return static_cast<double>(bits) * 0x1.0p-53;
}

SampledToken Sample(absl::Span<float> logits, const SamplingParams& params,
                    const SamplingContext& context) {
  SampledToken result;
  if (logits.empty()) return result;
  const int32_t vocab = static_cast<int32_t>(logits.size());
  Scratch& scratch = GetScratch(logits.size());
  // At temperature 1 without penalties the sampling weights are the raw
  // softmax terms: compute them once. Decided from the parameters alone: a
  // penalty with an empty history merely forgoes the reuse.
  const bool no_penalty = params.repetition_penalty == 1.0f &&
                          params.presence_penalty == 0.0f && params.frequency_penalty == 0.0f;
  if (params.greedy() && no_penalty && params.logprobs == 0) {
    // The common serving case: one pass, no exp. The chosen token's logprob
    // is only reported when logprobs were requested, so it is not computed.
    result.token = ArgMax(logits.data(), vocab);
    return result;
  }
  const bool reuse = !params.greedy() && params.temperature == 1.0f && no_penalty;
  const RawStats raw = ScanRaw(logits, reuse ? &scratch : nullptr);
  const int32_t n_top = std::clamp(params.logprobs, 0, vocab);
  if (n_top > 0) {
    TopK(logits.data(), vocab, n_top, scratch.index.data());
    result.top.reserve(n_top);
    for (int32_t i = 0; i < n_top; ++i) {
      const int32_t t = scratch.index[i];
      result.top.push_back(TokenLogprob{t, raw.LogProb(logits[t])});
    }
  }

  const bool penalised = ApplyPenalties(logits, params, context, scratch);
  const int32_t top = penalised ? ArgMax(logits.data(), vocab) : raw.argmax;
  if (params.greedy()) {
    result.token = top;
  } else {
    const double u = PhiloxUniform(context.seed, context.step, context.sample_index);
    result.token = SampleFiltered(logits, top, params, u, reuse ? raw.sum : 0.0, scratch);
  }
  result.logprob = raw.LogProb(RawLogit(logits, scratch, result.token));
  return result;
}

}  // namespace llm
