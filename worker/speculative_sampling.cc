// File: worker/speculative_sampling.cc
//
// Dense versions of the sampler's filters: the speculative path needs the
// whole distribution (p(x), q(x) and the residual), not one draw. These run
// only for sampled requests that speculate with a draft model, 2K times per
// sequence and step (K drafts, K verified positions), so clarity wins over
// the sampler's tricks except for the exps (its vectorised pass) and top-p,
// whose sort is restricted to the ids that can be inside the nucleus.
#include "worker/speculative_sampling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "worker/sampler_simd.h"

namespace llm {
namespace {

// Counter_hi tags of the extra Philox streams. The plain sampler's counter
// is (step, sample_index) with step far below 2^62, so these never collide
// with it.
constexpr uint64_t kDraftStream = uint64_t{1} << 62;
constexpr uint64_t kAcceptStream = uint64_t{2} << 62;

struct Scratch {
  std::vector<float> x;        // penalised logits
  std::vector<int32_t> index;  // candidate ids
  std::vector<int32_t> counts;  // all zero between calls
  std::vector<uint8_t> seen;    // all zero between calls
};

Scratch& GetScratch(size_t vocab) {
  thread_local Scratch s;
  if (s.counts.size() < vocab) {
    s.index.resize(vocab);
    s.counts.assign(vocab, 0);
    s.seen.assign(vocab, 0);
  }
  s.x.resize(vocab);
  return s;
}

// The sampler's penalties (worker/sampler.cc ApplyPenalties): repetition
// over the distinct prompt and output ids, then count * frequency +
// presence over the distinct output ids.
void ApplyPenalties(float* x, int32_t vocab, const SamplingParams& p,
                    const SamplingContext& ctx, Scratch& s) {
  auto valid = [vocab](int32_t t) { return t >= 0 && t < vocab; };
  if (p.repetition_penalty != 1.0f) {
    const float r = p.repetition_penalty;
    std::vector<int32_t> done;
    for (absl::Span<const int32_t> list : {ctx.prompt_tokens, ctx.generated_tokens}) {
      for (int32_t t : list) {
        if (!valid(t) || s.seen[t]) continue;
        s.seen[t] = 1;
        done.push_back(t);
        x[t] = x[t] > 0.0f ? x[t] / r : x[t] * r;
      }
    }
    for (int32_t t : done) s.seen[t] = 0;
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    for (int32_t t : ctx.generated_tokens) {
      if (valid(t)) ++s.counts[t];
    }
    for (int32_t t : ctx.generated_tokens) {
      if (!valid(t) || s.counts[t] == 0) continue;
      x[t] -= static_cast<float>(s.counts[t]) * p.frequency_penalty + p.presence_penalty;
      s.counts[t] = 0;
    }
  }
}

// Larger logit first, ties to the lower id (the sampler's order).
struct MoreLikely {
  const float* x;
  bool operator()(int32_t a, int32_t b) const {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  }
};

}  // namespace

double DraftUniform(uint64_t seed, uint64_t step, uint64_t sample_index) {
  return PhiloxUniform(seed, kDraftStream | step, sample_index);
}

double AcceptUniform(uint64_t seed, uint64_t step, uint64_t sample_index) {
  return PhiloxUniform(seed, kAcceptStream | step, sample_index);
}

void SamplingDistribution(absl::Span<const float> logits, const SamplingParams& params,
                          const SamplingContext& context, absl::Span<float> probs) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  Scratch& s = GetScratch(logits.size());
  float* x = s.x.data();
  std::copy(logits.begin(), logits.end(), x);
  ApplyPenalties(x, vocab, params, context, s);
  float* w = probs.data();
  // The sampler's vectorised exp: the same weights as Sample() uses.
  const float max = x[sampler_internal::ArgMax(x, vocab)];
  const float inv_t = 1.0f / params.temperature;
  double z = sampler_internal::SumExp(x, vocab, max, inv_t, 0.0f, w, nullptr);
  const MoreLikely more{x};
  int32_t* idx = s.index.data();
  int32_t candidates = 0;
  bool filtered = false;
  bool sorted = false;
  if (params.top_k > 0 && params.top_k < vocab) {
    for (int32_t i = 0; i < vocab; ++i) idx[i] = i;
    std::partial_sort(idx, idx + params.top_k, idx + vocab, more);
    candidates = params.top_k;
    z = 0.0;
    for (int32_t i = 0; i < candidates; ++i) z += w[idx[i]];
    filtered = sorted = true;
  }
  if (params.top_p < 1.0f) {
    if (!sorted) {
      // Ids lighter than (1 - p) z / vocab are all outside the nucleus (as
      // in the sampler); halved for rounding headroom.
      const double cutoff = 0.5 * (1.0 - params.top_p) * z / vocab;
      for (int32_t i = 0; i < vocab; ++i) {
        idx[candidates] = i;
        candidates += w[i] >= cutoff;
      }
      std::sort(idx, idx + candidates, more);
    }
    const double need = static_cast<double>(params.top_p) * z;
    double cum = 0.0;
    int32_t kept = candidates;
    for (int32_t i = 0; i < candidates; ++i) {
      cum += w[idx[i]];
      if (cum >= need) {
        kept = i + 1;
        break;
      }
    }
    candidates = kept;
    filtered = true;
  }
  if (params.min_p > 0.0f) {
    if (!filtered) {
      for (int32_t i = 0; i < vocab; ++i) idx[i] = i;
      candidates = vocab;
    }
    int32_t n = 0;
    for (int32_t i = 0; i < candidates; ++i) {
      if (w[idx[i]] >= params.min_p) idx[n++] = idx[i];
    }
    candidates = n;  // the top id has weight 1 >= min_p
    filtered = true;
  }
  if (filtered) {
    // Keep only the candidates: mark them, zero the rest.
    std::vector<uint8_t>& keep = s.seen;
    for (int32_t i = 0; i < candidates; ++i) keep[idx[i]] = 1;
    z = 0.0;
    for (int32_t i = 0; i < vocab; ++i) {
      if (!keep[i]) w[i] = 0.0f;
      z += w[i];
    }
    for (int32_t i = 0; i < candidates; ++i) keep[idx[i]] = 0;
  }
  const float inv_z = static_cast<float>(1.0 / z);
  for (int32_t i = 0; i < vocab; ++i) w[i] *= inv_z;
}

int32_t SampleFromWeights(absl::Span<const float> weights, double u) {
  double total = 0.0;
  for (float v : weights) total += v;
  const double target = u * total;
  double cum = 0.0;
  int32_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    cum += weights[i];
    last = static_cast<int32_t>(i);
    if (cum > target) return last;
  }
  return last;
}

DraftVerdict VerifyDraft(absl::Span<const float> p, absl::Span<const float> q,
                         int32_t draft, double u_accept, double u_resample,
                         absl::Span<float> residual) {
  DraftVerdict v;
  // u < p/q without dividing; q[draft] > 0 because the draft was sampled.
  if (u_accept * q[draft] < p[draft]) {
    v.accepted = true;
    v.token = draft;
    return v;
  }
  double mass = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    residual[i] = std::max(0.0f, p[i] - q[i]);
    mass += residual[i];
  }
  v.token = SampleFromWeights(mass > 0.0 ? absl::Span<const float>(residual) : p,
                              u_resample);
  return v;
}

void FillLogprobs(absl::Span<const float> raw, int logprobs, SampledToken& token) {
  const int32_t vocab = static_cast<int32_t>(raw.size());
  const sampler_internal::MaxAndSumExp stats =
      sampler_internal::ArgMaxAndSumExp(raw.data(), vocab);
  const float max = stats.max;
  const double log_sum = std::log(stats.sum);
  auto logprob = [&](int32_t t) {
    return static_cast<float>(static_cast<double>(raw[t] - max) - log_sum);
  };
  token.logprob = logprob(token.token);
  token.top.clear();
  const int32_t n_top = std::clamp(logprobs, 0, vocab);
  if (n_top == 0) return;
  Scratch& s = GetScratch(raw.size());
  int32_t* idx = s.index.data();
  for (int32_t i = 0; i < vocab; ++i) idx[i] = i;
  std::partial_sort(idx, idx + n_top, idx + vocab, MoreLikely{raw.data()});
  for (int32_t i = 0; i < n_top; ++i) token.top.push_back(TokenLogprob{idx[i], logprob(idx[i])});
}

}  // namespace llm
