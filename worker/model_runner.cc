#include "worker/model_runner.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/sampler.h"

namespace llm {

ModelRunner::ModelRunner(LlamaModel& model, LlamaModel* draft)
    : model_(model), draft_(draft) {}

int ModelRunner::num_kv_blocks() const {
  return model_.backend().kv_cache_shape().num_blocks;
}
int ModelRunner::block_size() const {
  return model_.backend().kv_cache_shape().block_size;
}

absl::Status ModelRunner::Validate(const StepPlan& plan) const {
  const int num_blocks = num_kv_blocks();
  const int bs = block_size();
  const int vocab = model_.config().n_vocab;
  auto check_blocks = [&](const std::vector<int32_t>& blocks,
                          SeqId id) -> absl::Status {
    for (int32_t b : blocks) {
      if (b < 0 || b >= num_blocks) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sequence %d: block %d outside the pool of %d", id, b, num_blocks));
      }
    }
    return absl::OkStatus();
  };
  absl::flat_hash_set<SeqId> finished(plan.finished.begin(), plan.finished.end());
  absl::flat_hash_map<SeqId, const SequenceSpec*> fresh;
  for (const SequenceSpec& s : plan.new_sequences) {
    if ((seqs_.contains(s.seq_id) && !finished.contains(s.seq_id)) ||
        !fresh.emplace(s.seq_id, &s).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d is already known", s.seq_id));
    }
    if (s.prompt_tokens.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d has no prompt tokens", s.seq_id));
    }
    for (int32_t t : s.prompt_tokens) {
      if (t < 0 || t >= vocab) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sequence %d: token id %d outside the vocabulary of %d", s.seq_id,
            t, vocab));
      }
    }
    for (int32_t t : s.output_tokens) {
      if (t < 0 || t >= vocab) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sequence %d: token id %d outside the vocabulary of %d", s.seq_id,
            t, vocab));
      }
    }
    if (absl::Status st = check_blocks(s.block_table, s.seq_id); !st.ok()) return st;
    if (absl::Status st = s.params.Validate(); !st.ok()) return st;
    const int64_t known = s.prompt_tokens.size() + s.output_tokens.size();
    if (s.num_computed_tokens < 0 || s.num_computed_tokens >= known) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: num_computed_tokens %d not in [0, %d)", s.seq_id,
          s.num_computed_tokens, known));
    }
  }
  for (const auto& [src, dst] : plan.block_copies) {
    if (src < 0 || dst < 0 || src >= num_blocks || dst >= num_blocks) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "block copy %d -> %d outside the pool of %d", src, dst, num_blocks));
    }
  }
  absl::flat_hash_set<SeqId> scheduled;
  for (const ScheduledChunk& c : plan.chunks) {
    if (!scheduled.insert(c.seq_id).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d scheduled twice", c.seq_id));
    }
    int64_t known, computed, table;
    if (auto it = fresh.find(c.seq_id); it != fresh.end()) {
      known = it->second->prompt_tokens.size() + it->second->output_tokens.size();
      computed = it->second->num_computed_tokens;
      table = it->second->block_table.size();
    } else if (auto jt = seqs_.find(c.seq_id);
               jt != seqs_.end() && !finished.contains(c.seq_id)) {
      known = jt->second.tokens.size();
      computed = jt->second.num_computed;
      table = jt->second.block_table.size();
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("chunk for unknown sequence %d", c.seq_id));
    }
    if (c.num_tokens <= 0 || computed + c.num_tokens > known) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: chunk of %d tokens from %d exceeds the %d known",
          c.seq_id, c.num_tokens, computed, known));
    }
    if (c.sample && computed + c.num_tokens != known) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: sampling requested before the last known token",
          c.seq_id));
    }
    if (absl::Status st = check_blocks(c.new_blocks, c.seq_id); !st.ok()) return st;
    if (absl::Status st = ValidateSpeculation(c); !st.ok()) return st;
    const int k = c.num_speculative_tokens;
    for (const auto& [index, block] : c.replaced_blocks) {
      if (index < 0 || index >= table || block < 0 || block >= num_blocks) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "sequence %d: replacement of table entry %d by block %d is invalid",
            c.seq_id, index, block));
      }
    }
    const int64_t need = (computed + c.num_tokens + k + bs - 1) / bs;
    if (table + static_cast<int64_t>(c.new_blocks.size()) < need) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: block table of %d blocks cannot hold %d tokens",
          c.seq_id, table + c.new_blocks.size(), computed + c.num_tokens + k));
    }
    if (computed + c.num_tokens + k > model_.config().context_length) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: %d tokens exceed the context length %d", c.seq_id,
          computed + c.num_tokens + k, model_.config().context_length));
    }
  }
  return absl::OkStatus();
}

void ModelRunner::AppendRows(ForwardBatch& batch, const Sequence& s, int32_t from, int32_t to,
                             absl::Span<const int32_t> after_known) const {
  const int bs = block_size();
  const int32_t known = static_cast<int32_t>(s.tokens.size());
  BatchSequence bseq;
  bseq.query_start = batch.num_tokens();
  bseq.num_queries = to - from;
  bseq.context_len = to;
  bseq.block_table = s.block_table;
  for (int32_t pos = from; pos < to; ++pos) {
    batch.tokens.push_back(pos < known ? s.tokens[pos] : after_known[pos - known]);
    batch.positions.push_back(pos);
    batch.slots.push_back(int64_t{s.block_table[pos / bs]} * bs + pos % bs);
  }
  batch.seqs.push_back(std::move(bseq));
}

absl::StatusOr<StepResult> ModelRunner::Execute(const StepPlan& plan) {
  if (absl::Status s = Validate(plan); !s.ok()) return s;

  for (SeqId id : plan.finished) seqs_.erase(id);
  for (const SequenceSpec& spec : plan.new_sequences) {
    Sequence& s = seqs_[spec.seq_id];
    s = Sequence();
    s.tokens = spec.prompt_tokens;
    s.tokens.insert(s.tokens.end(), spec.output_tokens.begin(),
                    spec.output_tokens.end());
    s.num_prompt = static_cast<int32_t>(spec.prompt_tokens.size());
    s.num_computed = spec.num_computed_tokens;
    s.block_table = spec.block_table;
    s.params = spec.params;
    s.seed = spec.seed;
    s.sample_index = spec.sample_index;
  }
  if (!plan.block_copies.empty()) {
    if (absl::Status s = model_.backend().CopyBlocks(plan.block_copies); !s.ok()) {
      return s;
    }
    if (draft_ != nullptr && draft_layers_ == 0) {
      if (absl::Status s = draft_->backend().CopyBlocks(plan.block_copies); !s.ok()) {
        return s;
      }
    }
  }

  StepResult result;
  result.step_id = plan.step_id;
  if (plan.chunks.empty()) return result;

  // Block tables first: the draft model writes into them too.
  std::vector<size_t> need_draft, catch_up;
  std::vector<std::vector<int32_t>> drafts(plan.chunks.size());
  draft_q_.resize(std::max(draft_q_.size(), plan.chunks.size()));
  for (std::vector<float>& q : draft_q_) q.clear();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    Sequence& s = seqs_.at(c.seq_id);
    for (const auto& [index, block] : c.replaced_blocks) s.block_table[index] = block;
    s.block_table.insert(s.block_table.end(), c.new_blocks.begin(),
                         c.new_blocks.end());
    if (c.num_speculative_tokens > 0 && c.draft_tokens.empty()) {
      need_draft.push_back(i);  // its first round catches the draft up
    } else {
      drafts[i] = c.draft_tokens;
      // A self-draft shares the target's KV: nothing to catch up.
      if (c.draft_catch_up && draft_ != nullptr && draft_layers_ == 0) catch_up.push_back(i);
    }
  }
  if (!catch_up.empty()) {
    if (absl::Status s = CatchUpDraft(plan, catch_up); !s.ok()) return s;
  }
  if (!need_draft.empty()) {
    if (absl::Status s = ProposeWithDraftModel(plan, need_draft, drafts); !s.ok()) {
      return s;
    }
  }

  // Build the ragged batch: each chunk's tokens (then its drafts) are
  // consecutive rows.
  ForwardBatch& batch = batch_;
  batch.Clear();
  for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    const ScheduledChunk& c = plan.chunks[ci];
    const Sequence& s = seqs_.at(c.seq_id);
    const std::vector<int32_t>& d = drafts[ci];
    const int k = static_cast<int>(d.size());
    // Drafts come only after a chunk that ends at the last known token.
    AppendRows(batch, s, s.num_computed, s.num_computed + c.num_tokens + k, d);
    if (c.sample) {
      for (int i = k; i >= 0; --i) batch.logit_rows.push_back(batch.num_tokens() - 1 - i);
    }
  }

  const int vocab = model_.config().n_vocab;
  // Greedy rows without penalties, logprobs or drafts need only the argmax,
  // which the host sampler reports without a logprob: a backend that
  // samples on the device (CUDA) returns those token ids instead of
  // [rows, vocab] logits, and they are the host sampler's tokens (argmax,
  // lowest id on ties). Any other sampled row sends the step to the host.
  bool on_device = model_.backend().CanSampleOnDevice() && !batch.logit_rows.empty();
  for (size_t ci = 0; on_device && ci < plan.chunks.size(); ++ci) {
    const ScheduledChunk& c = plan.chunks[ci];
    if (!c.sample) continue;
    const SamplingParams& p = seqs_.at(c.seq_id).params;
    on_device = drafts[ci].empty() && p.greedy() && p.logprobs == 0 &&
                p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f &&
                p.frequency_penalty == 0.0f;
  }
  if (on_device) {
    device_rows_.assign(batch.logit_rows.size(), RowSampling{});  // greedy
    device_tokens_.assign(batch.logit_rows.size(), -1);
    if (absl::Status s = model_.ForwardSample(batch, device_rows_, device_tokens_.data());
        !s.ok()) {
      return s;
    }
  } else {
    logits_.resize(static_cast<size_t>(batch.logit_rows.size()) * vocab);
    if (absl::Status s = model_.Forward(batch, logits_.data()); !s.ok()) return s;
  }

  size_t row = 0;
  for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
    const ScheduledChunk& c = plan.chunks[ci];
    Sequence& s = seqs_.at(c.seq_id);
    s.num_computed += c.num_tokens;
    if (!c.sample) continue;
    const std::vector<int32_t>& d = drafts[ci];
    const int k = static_cast<int>(d.size());
    SequenceResult r;
    r.seq_id = c.seq_id;
    r.num_proposed = k;
    if (!draft_q_[ci].empty()) {
      VerifySampledDrafts(s, d, draft_q_[ci], row, r);
      row += k + 1;
      s.num_computed += r.num_accepted;
      s.draft_computed = std::min(s.draft_computed, s.num_computed);
      result.results.push_back(std::move(r));
      continue;
    }
    // Row i scores position num_computed - 1 + i; stop at the first draft
    // the target's own sample disagrees with (its sample is emitted).
    for (int i = 0; i <= k; ++i) {
      SamplingContext ctx = s.NextTokenContext();
      SampledToken tok;
      if (on_device) {
        tok.token = device_tokens_[row + i];
      } else {
        absl::Span<float> logits(logits_.data() + (row + i) * vocab, vocab);
        tok = Sample(logits, s.params, ctx);
      }
      const bool accept = i < k && tok.token == d[i];
      s.tokens.push_back(tok.token);
      r.tokens.push_back(std::move(tok));
      if (!accept) break;
      ++r.num_accepted;
    }
    row += k + 1;
    // The accepted drafts' KV is valid; rejected positions are rewritten
    // by later steps (target and draft alike).
    s.num_computed += r.num_accepted;
    s.draft_computed = std::min(s.draft_computed, s.num_computed);
    result.results.push_back(std::move(r));
  }
  return result;
}

}  // namespace llm
