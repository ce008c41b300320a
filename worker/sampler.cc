// File: worker/sampler.cc
//
// Cost model (vocab V = 49152): the greedy path without penalties is one pass
// (argmax and an online log-sum-exp for the chosen token's logprob). Sampling
// never sorts the whole vocabulary: top-k is an nth_element selection, top-p
// grows a sorted prefix geometrically (nth_element on the remainder), and the
// plain temperature path walks the vocabulary in id order. Temperature is
// folded into the weight computation, never written back, so the raw logits
// stay available for logprobs; penalties touch only the penalised ids and
// remember their raw values. Scratch buffers are thread_local, so steady
// state makes no allocation except the returned `top` vector.
#include "worker/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

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

// Per-thread buffers sized to the vocabulary on first use.
struct Scratch {
  std::vector<float> weights;                          // [vocab]
  std::vector<int32_t> index;                          // [vocab]
  std::vector<int32_t> counts;                         // [vocab], all zero between calls
  std::vector<uint8_t> touched;                        // [vocab], all zero between calls
  std::vector<std::pair<int32_t, float>> originals;    // raw logits of penalised ids
};

Scratch& GetScratch(size_t vocab) {
  thread_local Scratch scratch;
  if (scratch.counts.size() < vocab) {
    scratch.weights.resize(vocab);
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

// Log-sum-exp of the raw logits plus, when n > 0, their n most likely ids.
struct RawStats {
  float max = -std::numeric_limits<float>::infinity();
  int32_t argmax = 0;
  double sum = 0.0;  // sum of exp(x - max)
  // log softmax of a raw logit; (x - max) first avoids cancellation.
  float LogProb(float x) const {
    return static_cast<float>(static_cast<double>(x - max) - std::log(sum));
  }
};

// One pass: argmax (first maximum, i.e. lowest id on ties) and an online
// softmax normaliser that is rescaled whenever the maximum moves. `top`
// (capacity n) keeps the n best ids sorted desc; scanning in id order with a
// strict comparison keeps the lower id on ties.
RawStats ScanRaw(absl::Span<const float> x, int n, std::vector<TokenLogprob>* top) {
  RawStats s;
  const int32_t vocab = static_cast<int32_t>(x.size());
  for (int32_t i = 0; i < vocab; ++i) {
    const float v = x[i];
    if (v > s.max) {
      s.sum *= std::exp(static_cast<double>(s.max) - v);
      s.max = v;
      s.argmax = i;
    }
    s.sum += std::exp(v - s.max);
    if (n > 0 && (static_cast<int>(top->size()) < n || v > top->back().logprob)) {
      if (static_cast<int>(top->size()) == n) top->pop_back();
      auto it = top->end();
      while (it != top->begin() && (it - 1)->logprob < v) --it;
      top->insert(it, TokenLogprob{i, v});
    }
  }
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

// First maximum of `x` (lowest id on ties).
int32_t Argmax(absl::Span<const float> x) {
  int32_t best = 0;
  float best_v = x[0];
  for (int32_t i = 1; i < static_cast<int32_t>(x.size()); ++i) {
    if (x[i] > best_v) {
      best_v = x[i];
      best = i;
    }
  }
  return best;
}

// Inverse CDF over `ids` (ascending) with weights w[id].
int32_t InverseCdf(const int32_t* ids, size_t n, const float* w, double u) {
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += w[ids[i]];
  const double target = u * total;
  double cum = 0.0;
  int32_t last = ids[0];
  for (size_t i = 0; i < n; ++i) {
    const float wi = w[ids[i]];
    if (wi <= 0.0f) continue;
    cum += wi;
    last = ids[i];
    if (cum > target) return ids[i];
  }
  return last;  // rounding pushed the target past the end
}

// Temperature > 0. Returns the sampled id; `logits` holds penalised logits.
int32_t SampleFiltered(absl::Span<const float> logits, const SamplingParams& p,
                       double u, Scratch& scratch) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  const float* x = logits.data();
  float* w = scratch.weights.data();
  const float inv_t = 1.0f / p.temperature;
  const int32_t top_max = Argmax(logits);
  const float max = x[top_max];
  const bool top_k = p.top_k > 0 && p.top_k < vocab;
  const bool top_p = p.top_p < 1.0f;
  // min-p keeps prob >= min_p * max_prob, i.e. weight exp((x - max) / T) >= min_p.
  const float min_w = p.min_p;

  if (!top_k && !top_p) {
    // Whole vocabulary in id order: no index list needed.
    double total = 0.0;
    for (int32_t i = 0; i < vocab; ++i) {
      float wi = std::exp((x[i] - max) * inv_t);
      if (wi < min_w) wi = 0.0f;
      w[i] = wi;
      total += wi;
    }
    const double target = u * total;
    double cum = 0.0;
    int32_t last = top_max;
    for (int32_t i = 0; i < vocab; ++i) {
      if (w[i] <= 0.0f) continue;
      cum += w[i];
      last = i;
      if (cum > target) return i;
    }
    return last;
  }

  int32_t* idx = scratch.index.data();
  for (int32_t i = 0; i < vocab; ++i) idx[i] = i;
  const MoreLikely more{x};
  const int32_t limit = top_k ? p.top_k : vocab;  // candidates after top-k
  if (top_k) std::nth_element(idx, idx + limit, idx + vocab, more);

  // Softmax normaliser over the candidates (top-k renormalises).
  double z = 0.0;
  for (int32_t i = 0; i < limit; ++i) {
    const int32_t t = idx[i];
    w[t] = std::exp((x[t] - max) * inv_t);
    z += w[t];
  }

  int32_t kept = limit;
  if (top_p) {
    // Grow a sorted prefix of the most likely candidates until its mass
    // reaches top_p * z; each growth step selects within the unsorted rest.
    const double need = static_cast<double>(p.top_p) * z;
    double cum = 0.0;
    int32_t sorted = 0;
    int32_t chunk = std::min<int32_t>(limit, 64);
    kept = -1;
    while (kept < 0) {
      const int32_t end = std::min<int32_t>(limit, sorted + chunk);
      if (end < limit) std::nth_element(idx + sorted, idx + end, idx + limit, more);
      std::sort(idx + sorted, idx + end, more);
      for (int32_t i = sorted; i < end; ++i) {
        cum += w[idx[i]];
        if (cum >= need) {
          kept = i + 1;
          break;
        }
      }
      if (kept < 0 && end == limit) kept = limit;  // rounding: keep all
      sorted = end;
      chunk *= 8;
    }
  }
  if (min_w > 0.0f) {
    int32_t n = 0;
    for (int32_t i = 0; i < kept; ++i) {
      if (w[idx[i]] >= min_w) idx[n++] = idx[i];
    }
    kept = n;  // the top token has weight 1 >= min_p, so n >= 1
  }
  std::sort(idx, idx + kept);
  return InverseCdf(idx, static_cast<size_t>(kept), w, u);
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
  Scratch& scratch = GetScratch(logits.size());
  const int n_top = std::clamp(params.logprobs, 0, static_cast<int>(logits.size()));
  if (n_top > 0) result.top.reserve(n_top + 1);
  const RawStats raw = ScanRaw(logits, n_top, &result.top);
  for (TokenLogprob& t : result.top) t.logprob = raw.LogProb(t.logprob);

  const bool penalised = ApplyPenalties(logits, params, context, scratch);
  if (params.greedy()) {
    result.token = penalised ? Argmax(logits) : raw.argmax;
  } else {
    const double u = PhiloxUniform(context.seed, context.step, context.sample_index);
    result.token = SampleFiltered(logits, params, u, scratch);
  }
  result.logprob = raw.LogProb(RawLogit(logits, scratch, result.token));
  return result;
}

}  // namespace llm
