// File: worker/model_runner_draft.cc
//
// ModelRunner's speculative-decoding half: plan checks for draft chunks and
// the draft model's proposals: its argmax for greedy requests, else a
// sample of its own distribution q under the request's sampling parameters
// (kept for the verification's min(1, p/q) test and residual). The draft
// keeps its own KV pool with the target's block ids, filled lazily: a
// sequence's first speculating step catches the draft up over everything
// it has not computed (the prompt), later steps over the one or two tokens
// the last verification added. Writes into blocks another sequence shares
// (prefix hits, forks) store the same values that sequence's draft would,
// since the tokens and positions are the same.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/model_runner.h"
#include "worker/speculative_sampling.h"

namespace llm {
namespace {

// Lowest id among the maximal logits, as the greedy sampler.
int32_t ArgMaxRow(const float* x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace

absl::Status ModelRunner::ValidateSpeculation(const ScheduledChunk& c) const {
  const int k = c.num_speculative_tokens;
  if (k == 0 && c.draft_tokens.empty()) return absl::OkStatus();
  if (k < 0 || !c.sample) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "sequence %d: %d speculative tokens on a chunk that does not sample",
        c.seq_id, k));
  }
  if (!c.draft_tokens.empty() && static_cast<int>(c.draft_tokens.size()) != k) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "sequence %d: %d draft tokens for %d speculative positions", c.seq_id,
        c.draft_tokens.size(), k));
  }
  if (c.draft_tokens.empty() && draft_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "sequence %d: draft-model speculation asked of a worker without a "
        "draft model", c.seq_id));
  }
  const int vocab = model_.config().n_vocab;
  for (int32_t t : c.draft_tokens) {
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: draft token id %d outside the vocabulary of %d",
          c.seq_id, t, vocab));
    }
  }
  return absl::OkStatus();
}

absl::Status ModelRunner::CatchUpDraft(const StepPlan& plan,
                                       const std::vector<size_t>& which) {
  ForwardBatch& batch = draft_batch_;
  batch.Clear();  // and no logit rows: KV only, no LM head
  for (size_t i : which) {
    const ScheduledChunk& c = plan.chunks[i];
    Sequence& s = seqs_.at(c.seq_id);
    const int32_t to = s.num_computed + c.num_tokens;  // exclusive
    if (s.draft_computed >= to) continue;
    AppendRows(batch, s, s.draft_computed, to);
    s.draft_computed = to;
  }
  if (batch.num_tokens() == 0) return absl::OkStatus();
  return draft_->Forward(batch, /*logits=*/nullptr);
}

absl::Status ModelRunner::ProposeWithDraftModel(
    const StepPlan& plan, const std::vector<size_t>& which,
    std::vector<std::vector<int32_t>>& drafts) {
  const int vocab = draft_->config().n_vocab;
  int max_k = 0;
  for (size_t i : which) max_k = std::max(max_k, plan.chunks[i].num_speculative_tokens);
  ForwardBatch& batch = draft_batch_;
  // Round 0 feeds everything the draft lacks up to the last known token;
  // round j feeds draft j - 1 (position known + j - 1) and reads draft j.
  for (int round = 0; round < max_k; ++round) {
    batch.Clear();
    std::vector<size_t> members;
    for (size_t i : which) {
      const ScheduledChunk& c = plan.chunks[i];
      if (round >= c.num_speculative_tokens) continue;
      Sequence& s = seqs_.at(c.seq_id);
      const int32_t known = static_cast<int32_t>(s.tokens.size());
      // A self-draft shares the target's KV: it has what the target has.
      if (round == 0 && draft_layers_ > 0) s.draft_computed = s.num_computed;
      const int32_t from = round == 0 ? s.draft_computed : known + round - 1;
      const int32_t to = known + round;  // exclusive
      AppendRows(batch, s, from, to, drafts[i]);
      batch.logit_rows.push_back(batch.num_tokens() - 1);
      members.push_back(i);
      s.draft_computed = to;
    }
    draft_logits_.resize(static_cast<size_t>(members.size()) * vocab);
    if (absl::Status s = draft_->Forward(batch, draft_logits_.data(), draft_layers_);
        !s.ok()) {
      return s;
    }
    for (size_t m = 0; m < members.size(); ++m) {
      const size_t i = members[m];
      const float* row = draft_logits_.data() + m * vocab;
      const Sequence& s = seqs_.at(plan.chunks[i].seq_id);
      if (s.params.greedy()) {
        // q is one-hot at the argmax: the verification's equality test.
        drafts[i].push_back(ArgMaxRow(row, vocab));
        continue;
      }
      drafts[i].push_back(SampleDraft(s, absl::MakeConstSpan(row, vocab), drafts[i],
                                      draft_q_[i]));
    }
  }
  return absl::OkStatus();
}

int32_t ModelRunner::SampleDraft(const Sequence& s, absl::Span<const float> logits,
                                 const std::vector<int32_t>& drafts_so_far,
                                 std::vector<float>& q_rows) {
  const size_t vocab = logits.size();
  // The draft's history is the sequence's plus its own earlier drafts, so
  // penalties see what the target will see if those drafts are accepted.
  std::vector<int32_t>& history = draft_history_;
  history.assign(s.tokens.begin() + s.num_prompt, s.tokens.end());
  history.insert(history.end(), drafts_so_far.begin(), drafts_so_far.end());
  SamplingContext ctx = s.NextTokenContext();
  ctx.generated_tokens = history;
  ctx.step = history.size();
  const size_t j = drafts_so_far.size();
  q_rows.resize((j + 1) * vocab);
  absl::Span<float> q(q_rows.data() + j * vocab, vocab);
  SamplingDistribution(logits, s.params, ctx, q);
  return SampleFromWeights(q, DraftUniform(s.seed, ctx.step, s.sample_index));
}

void ModelRunner::VerifySampledDrafts(Sequence& s, const std::vector<int32_t>& drafts,
                                      const std::vector<float>& q_rows, size_t row,
                                      SequenceResult& r) {
  const size_t vocab = model_.config().n_vocab;
  const int k = static_cast<int>(drafts.size());
  p_row_.resize(vocab);
  residual_.resize(vocab);
  for (int i = 0; i <= k; ++i) {
    SamplingContext ctx = s.NextTokenContext();
    absl::Span<float> logits(logits_.data() + (row + i) * vocab, vocab);
    if (i == k) {
      // Every draft held: the bonus token is a plain sample of p.
      SampledToken tok = Sample(logits, s.params, ctx);
      s.tokens.push_back(tok.token);
      r.tokens.push_back(std::move(tok));
      return;
    }
    SamplingDistribution(logits, s.params, ctx, absl::MakeSpan(p_row_));
    const DraftVerdict v = VerifyDraft(
        p_row_, absl::MakeConstSpan(q_rows.data() + i * vocab, vocab), drafts[i],
        AcceptUniform(s.seed, ctx.step, s.sample_index),
        PhiloxUniform(s.seed, ctx.step, s.sample_index), absl::MakeSpan(residual_));
    SampledToken tok;
    tok.token = v.token;
    FillLogprobs(logits, s.params.logprobs, tok);
    s.tokens.push_back(tok.token);
    r.tokens.push_back(std::move(tok));
    if (!v.accepted) return;
    ++r.num_accepted;
  }
}

}  // namespace llm
