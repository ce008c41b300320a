// File: scheduler/engine_speculation.cc
//
// Engine's speculative-decoding bookkeeping: how many draft tokens a
// decoding sequence verifies this step (and, for n-gram lookup, which), and
// what a verification result does to the sequence and the statistics.
// Rollback needs no block work here: the accepted prefix advances
// num_computed, rejected positions stay inside blocks the sequence already
// owns (overwritten by its next steps, never hashed into the prefix cache,
// freed with the sequence).
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "scheduler/engine.h"
#include "scheduler/ngram_proposer.h"

namespace llm {

absl::StatusOr<DraftSource> ParseDraftSource(const std::string& name) {
  if (name == "none" || name.empty()) return DraftSource::kNone;
  if (name == "ngram") return DraftSource::kNgram;
  if (name == "model") return DraftSource::kDraftModel;
  return absl::InvalidArgumentError(
      absl::StrFormat("--draft must be none, ngram or model, got '%s'", name));
}

const char* DraftSourceName(DraftSource source) {
  switch (source) {
    case DraftSource::kNone: return "none";
    case DraftSource::kNgram: return "ngram";
    case DraftSource::kDraftModel: return "model";
  }
  return "none";
}

int Engine::PlanSpeculation(const Sequence& s, int budget_tokens,
                            std::vector<int32_t>& drafts) const {
  drafts.clear();
  if (s.spec_k <= 0 || s.num_pending() != 1) return 0;
  const int limit = options_.speculative.disable_by_batch_size;
  if (limit > 0 && num_running() > limit) return 0;
  const int len = static_cast<int>(s.tokens.size());
  // Every kept draft plus the target's own token must fit max_tokens and
  // the context: no position is scored that could never be emitted.
  const int k = std::min({s.spec_k, budget_tokens - 1,
                          s.request->max_tokens - s.num_output() - 1,
                          worker_.context_length - len - 1});
  if (k <= 0) return 0;
  if (options_.speculative.source == DraftSource::kDraftModel) return k;
  drafts = ProposeNgramDraft(s.tokens, k, options_.speculative.ngram_min,
                             options_.speculative.ngram_max);
  return static_cast<int>(drafts.size());
}

void Engine::RecordSpeculation(Sequence& s, const SequenceResult& r,
                               SequenceUpdate& update) {
  if (r.num_proposed <= 0) return;
  const int accepted = std::clamp(r.num_accepted, 0, r.num_proposed);
  // The accepted drafts' KV is valid; the target's own token is not yet
  // computed, and the rejected positions are overwritten by later steps.
  s.num_computed += accepted;
  update.num_proposed_draft_tokens = r.num_proposed;
  update.num_accepted_draft_tokens = accepted;
  ++stats_.spec_verifications;
  stats_.spec_proposed_tokens += r.num_proposed;
  stats_.spec_accepted_tokens += accepted;
  if (options_.speculative.source == DraftSource::kNgram) {
    ++stats_.spec_ngram_verifications;
    stats_.spec_ngram_proposed_tokens += r.num_proposed;
    stats_.spec_ngram_accepted_tokens += accepted;
  } else {
    ++stats_.spec_draft_model_verifications;
    stats_.spec_draft_model_proposed_tokens += r.num_proposed;
    stats_.spec_draft_model_accepted_tokens += accepted;
  }
  if (options_.speculative.adaptive) {
    s.spec_k = std::clamp(accepted + 1, 1, s.spec_max_k);
  }
}

}  // namespace llm
