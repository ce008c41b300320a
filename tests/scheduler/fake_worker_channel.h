// FakeWorkerChannel: a deterministic stand-in for a worker, for scheduler
// tests. It mirrors the worker's per-sequence state to check that plans are
// consistent deltas (known sequences, block tables long enough, no block
// owned twice), and samples token = f(seq_id, output index) unless a script
// says otherwise. Speculative chunks are verified like a real target would:
// drafts (the scheduler's, or draft_token(seq, index) standing in for a
// draft model) are accepted while they equal the target's token.
#ifndef LLM_TESTS_SCHEDULER_FAKE_WORKER_CHANNEL_H_
#define LLM_TESTS_SCHEDULER_FAKE_WORKER_CHANNEL_H_

#include <functional>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/worker_channel.h"

namespace llm::testing {

class FakeWorkerChannel : public WorkerChannel {
 public:
  FakeWorkerChannel(int num_blocks, int block_size, int context_length = 4096,
                    int vocab = 1000)
      : num_blocks_(num_blocks), block_size_(block_size),
        context_length_(context_length), vocab_(vocab) {}

  absl::StatusOr<WorkerDescription> Describe() override {
    WorkerDescription d;
    d.backend = "fake";
    d.num_kv_blocks = num_blocks_;
    d.block_size = block_size_;
    d.context_length = context_length_;
    d.vocab_size = vocab_;
    d.has_draft_model = has_draft_model;
    return d;
  }

  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override {
    plans.push_back(plan);
    if (fail_next) {
      fail_next = false;
      return absl::Status(fail_code, "fake worker failure");
    }
    for (SeqId id : plan.finished) seqs_.erase(id);
    for (const SequenceSpec& s : plan.new_sequences) {
      if (seqs_.count(s.seq_id)) return absl::InternalError("sequence sent twice");
      State st;
      st.tokens = s.prompt_tokens;
      st.tokens.insert(st.tokens.end(), s.output_tokens.begin(), s.output_tokens.end());
      st.num_prompt = s.prompt_tokens.size();
      st.computed = s.num_computed_tokens;
      st.blocks = s.block_table;
      seqs_[s.seq_id] = st;
    }
    StepResult result;
    result.step_id = plan.step_id;
    std::vector<int32_t> written;  // blocks this step writes KV into
    for (const ScheduledChunk& c : plan.chunks) {
      auto it = seqs_.find(c.seq_id);
      if (it == seqs_.end()) return absl::InternalError("chunk for unknown sequence");
      State& st = it->second;
      for (const auto& [index, block] : c.replaced_blocks) st.blocks.at(index) = block;
      st.blocks.insert(st.blocks.end(), c.new_blocks.begin(), c.new_blocks.end());
      const int k = c.num_speculative_tokens;
      if (k < 0 || (k > 0 && !c.sample) ||
          (!c.draft_tokens.empty() && static_cast<int>(c.draft_tokens.size()) != k)) {
        return absl::InternalError("malformed speculative chunk");
      }
      for (int p = st.computed; p < st.computed + c.num_tokens + k; ++p) {
        if (p / block_size_ < static_cast<int>(st.blocks.size())) {
          written.push_back(st.blocks[p / block_size_]);
        }
      }
      st.computed += c.num_tokens;
      if (st.computed > static_cast<int>(st.tokens.size())) {
        return absl::InternalError("computing unknown tokens");
      }
      if (static_cast<int>(st.blocks.size()) * block_size_ < st.computed + k) {
        return absl::InternalError(absl::StrFormat(
            "seq %d: %d blocks cannot hold %d tokens", c.seq_id, st.blocks.size(),
            st.computed + k));
      }
      if (st.computed + k > context_length_) {
        return absl::InternalError("speculation beyond the context");
      }
      chunk_sizes.push_back(c.num_tokens);
      spec_sizes.push_back(k);
      if (c.sample) {
        SequenceResult r;
        r.seq_id = c.seq_id;
        r.num_proposed = k;
        for (int i = 0; i <= k; ++i) {
          const int index = static_cast<int>(st.tokens.size()) - st.num_prompt;
          const int32_t tok = Target(c.seq_id, index);
          SampledToken t;
          t.token = tok;
          r.tokens.push_back(t);
          st.tokens.push_back(tok);
          if (i == k) break;
          const int32_t draft = c.draft_tokens.empty()
                                    ? (draft_token ? draft_token(c.seq_id, index) : tok)
                                    : c.draft_tokens[i];
          if (draft != tok) break;
          ++r.num_accepted;
        }
        st.computed += r.num_accepted;
        proposed += r.num_proposed;
        accepted += r.num_accepted;
        result.results.push_back(r);
      }
    }
    // Copy-on-write: a block written this step belongs to one live sequence
    // only (shared prompt blocks are read-only).
    for (int32_t b : written) {
      int holders = 0;
      for (const auto& [id, st] : seqs_) {
        for (int32_t x : st.blocks) holders += x == b;
      }
      if (holders != 1) {
        return absl::InternalError(absl::StrFormat(
            "block %d is written while %d sequences hold it", b, holders));
      }
    }
    copies += plan.block_copies.size();
    return result;
  }

  int num_live_sequences() const { return static_cast<int>(seqs_.size()); }
  // A new session, as a restarted worker has: it knows no sequence.
  void ResetSession() { seqs_.clear(); }
  int32_t Target(SeqId id, int index) const {
    return next_token ? next_token(id, index)
                      : static_cast<int32_t>(3 + (id * 31 + index) % 500);
  }

  std::vector<StepPlan> plans;
  std::vector<int> chunk_sizes;
  std::vector<int> spec_sizes;  // num_speculative_tokens per chunk
  int64_t proposed = 0, accepted = 0;
  // Draft-model stand-in for chunks without draft_tokens; unset: always right.
  std::function<int32_t(SeqId, int)> draft_token;
  size_t copies = 0;
  std::function<int32_t(SeqId, int)> next_token;
  bool fail_next = false;
  // What the failing step returns: kUnavailable (worker gone) or e.g.
  // kInvalidArgument (plan rejected, session alive).
  absl::StatusCode fail_code = absl::StatusCode::kUnavailable;
  // What Describe reports (draft-model speculation needs it).
  bool has_draft_model = true;

 private:
  struct State {
    std::vector<int32_t> tokens;
    int num_prompt = 0;
    int computed = 0;
    std::vector<int32_t> blocks;
  };
  int num_blocks_, block_size_, context_length_, vocab_;
  std::map<SeqId, State> seqs_;
};

}  // namespace llm::testing

#endif  // LLM_TESTS_SCHEDULER_FAKE_WORKER_CHANNEL_H_
