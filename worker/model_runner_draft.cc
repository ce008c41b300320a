// File: worker/model_runner_draft.cc
//
// ModelRunner's speculative-decoding half: plan checks for draft chunks and
// the draft model's greedy proposals. The draft keeps its own KV pool with
// the target's block ids, filled lazily: a sequence's first speculating
// step catches the draft up over everything it has not computed (the
// prompt), later steps over the one or two tokens the last verification
// added. Writes into blocks another sequence shares (prefix hits, forks)
// store the same values that sequence's draft would, since the tokens and
// positions are the same.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/model_runner.h"

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

absl::Status ModelRunner::ProposeWithDraftModel(
    const StepPlan& plan, const std::vector<size_t>& which,
    std::vector<std::vector<int32_t>>& drafts) {
  const int bs = block_size();
  const int vocab = draft_->config().n_vocab;
  int max_k = 0;
  for (size_t i : which) max_k = std::max(max_k, plan.chunks[i].num_speculative_tokens);
  ForwardBatch& batch = draft_batch_;
  // Round 0 feeds everything the draft lacks up to the last known token;
  // round j feeds draft j - 1 (position known + j - 1) and reads draft j.
  for (int round = 0; round < max_k; ++round) {
    batch.tokens.clear();
    batch.positions.clear();
    batch.slots.clear();
    batch.seqs.clear();
    batch.logit_rows.clear();
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
      BatchSequence bseq;
      bseq.query_start = batch.num_tokens();
      bseq.num_queries = to - from;
      bseq.context_len = to;
      bseq.block_table = s.block_table;
      for (int32_t pos = from; pos < to; ++pos) {
        batch.tokens.push_back(pos < known ? s.tokens[pos] : drafts[i][pos - known]);
        batch.positions.push_back(pos);
        batch.slots.push_back(int64_t{s.block_table[pos / bs]} * bs + pos % bs);
      }
      batch.seqs.push_back(bseq);
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
      drafts[members[m]].push_back(ArgMaxRow(draft_logits_.data() + m * vocab, vocab));
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
