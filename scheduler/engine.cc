#include "scheduler/engine.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/check.h"

namespace llm {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

absl::Status SpeculativeOptions::Validate() const {
  if (max_num_speculative_tokens < 0 ||
      max_num_speculative_tokens > kMaxSpeculativeTokens) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_num_speculative_tokens must be in [0, %d], got %d",
        kMaxSpeculativeTokens, max_num_speculative_tokens));
  }
  if (num_speculative_tokens < 0 || num_speculative_tokens > max_num_speculative_tokens) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "num_speculative_tokens must be in [0, %d] (max_num_speculative_tokens), "
        "got %d",
        max_num_speculative_tokens, num_speculative_tokens));
  }
  if (disable_by_batch_size < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "disable_by_batch_size must be >= 0, got %d", disable_by_batch_size));
  }
  if (ngram_min < 1 || ngram_max < ngram_min) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "n-gram window [%d, %d] is invalid", ngram_min, ngram_max));
  }
  return absl::OkStatus();
}

absl::Status EngineOptions::Validate() const {
  if (absl::Status s = speculative.Validate(); !s.ok()) return s;
  if (max_num_seqs < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_num_seqs must be >= 1, got %d", max_num_seqs));
  }
  if (max_batched_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_batched_tokens must be >= 1, got %d", max_batched_tokens));
  }
  if (!(admission_watermark >= 0 && admission_watermark < 1)) {
    return absl::InvalidArgumentError("admission_watermark must be in [0, 1)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options, WorkerChannel& channel) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  absl::StatusOr<WorkerDescription> worker = channel.Describe();
  if (!worker.ok()) return worker.status();
  if (worker->num_kv_blocks < 1 || worker->block_size < 1) {
    return absl::FailedPreconditionError("worker reports no KV blocks");
  }
  if (options.speculative.source == DraftSource::kDraftModel && !worker->has_draft_model) {
    return absl::FailedPreconditionError(
        "draft-model speculation needs a worker with a draft model (llm-worker "
        "--draft-model PATH or --self-draft-layers N); this worker has none");
  }
  return std::unique_ptr<Engine>(new Engine(options, channel, *worker));
}

Engine::Engine(const EngineOptions& options, WorkerChannel& channel,
               const WorkerDescription& worker)
    : options_(options),
      pipelined_(options.async_scheduling &&
                 options.speculative.source == DraftSource::kNone),
      channel_(channel),
      worker_(worker),
      allocator_(worker.num_kv_blocks) {}

int Engine::BlocksFor(int tokens) const {
  return (tokens + worker_.block_size - 1) / worker_.block_size;
}

absl::Status Engine::Add(GenerationRequest request, UpdateCallback on_update) {
  const int prompt = static_cast<int>(request.prompt_tokens.size());
  if (prompt == 0) return absl::InvalidArgumentError("prompt is empty");
  if (request.n < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("n must be >= 1, got %d", request.n));
  }
  if (request.max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_tokens must be >= 1, got %d", request.max_tokens));
  }
  if (absl::Status s = request.params.Validate(); !s.ok()) return s;
  if (request.num_speculative_tokens.has_value() &&
      (*request.num_speculative_tokens < 0 ||
       *request.num_speculative_tokens > kMaxSpeculativeTokens)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "num_speculative_tokens must be in [0, %d], got %d",
        kMaxSpeculativeTokens, *request.num_speculative_tokens));
  }
  if (prompt >= worker_.context_length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt of %d tokens does not fit the context length %d", prompt,
        worker_.context_length));
  }
  if (BlocksFor(prompt + 1) > allocator_.num_blocks()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt of %d tokens needs more KV blocks than the pool has (%d)",
        prompt, allocator_.num_blocks()));
  }
  for (int32_t t : request.prompt_tokens) {
    if (t < 0 || t >= worker_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "prompt token id %d outside the vocabulary of %d", t,
          worker_.vocab_size));
    }
  }
  if (requests_.contains(request.request_id)) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "request id '%s' is already in flight", request.request_id));
  }
  auto owned = std::make_unique<GenerationRequest>(std::move(request));
  const GenerationRequest* req = owned.get();
  uint64_t seed = 0;
  if (req->params.seed.has_value()) {
    seed = *req->params.seed;
  } else {
    std::random_device rd;
    seed = (uint64_t{rd()} << 32) | rd();
  }
  const absl::Time now = absl::Now();
  const int spec_k = options_.speculative.source == DraftSource::kNone
                         ? 0
                         : std::min(req->num_speculative_tokens.value_or(
                                        options_.speculative.num_speculative_tokens),
                                    options_.speculative.max_num_speculative_tokens);
  Sequence* parent = nullptr;
  for (int i = 0; i < req->n; ++i) {
    auto s = std::make_unique<Sequence>();
    s->id = next_seq_id_++;
    s->request_id = req->request_id;
    s->sample_index = i;
    s->request = req;
    s->tokens = req->prompt_tokens;
    s->num_prompt = prompt;
    s->seed = seed;
    s->spec_max_k = spec_k;
    s->spec_k = spec_k;
    s->arrival = now;
    s->on_update = on_update;
    if (parent == nullptr) {
      parent = s.get();
      waiting_.push_back(s.get());
    } else {
      // Forked from sample 0 once its prompt is computed (shared blocks).
      s->fork_parent = parent;
      parent->fork_children.push_back(s.get());
    }
    seqs_.emplace(s->id, std::move(s));
  }
  live_samples_[req->request_id] = req->n;
  requests_.emplace(req->request_id, std::move(owned));
  return absl::OkStatus();
}

absl::Status Engine::Cancel(const std::string& request_id) {
  if (!requests_.contains(request_id)) {
    return absl::NotFoundError(
        absl::StrFormat("no request '%s' in flight", request_id));
  }
  std::vector<SeqId> victims;
  for (auto& [id, s] : seqs_) {
    if (s->request_id == request_id) victims.push_back(id);
  }
  // Finishing a parent also finishes its unforked children: look ids up.
  for (SeqId id : victims) {
    if (auto it = seqs_.find(id); it != seqs_.end()) {
      Finish(*it->second, FinishReason::kCancelled);
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::CancelSample(const std::string& request_id, int sample_index) {
  for (auto& [id, s] : seqs_) {
    if (s->request_id != request_id || s->sample_index != sample_index) continue;
    if (!s->fork_children.empty()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "sample %d of '%s' still has samples to fork", sample_index, request_id));
    }
    Finish(*s, FinishReason::kCancelled);
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrFormat("no sample %d of request '%s' in flight", sample_index, request_id));
}

bool Engine::TryGrow(Sequence& s, int tokens) {
  const int bs = worker_.block_size;
  const int have = static_cast<int>(s.blocks.size());
  const int want = BlocksFor(tokens);
  // Blocks the writes of positions [num_computed, tokens) land in that other
  // sequences still hold: those are copied first (copy-on-write).
  std::vector<int> shared;
  for (int i = s.num_computed / bs; i < std::min(have, want); ++i) {
    if (allocator_.ref_count(s.blocks[i]) > 1) shared.push_back(i);
  }
  const int grow = std::max(0, want - have);
  const int need = grow + static_cast<int>(shared.size());
  if (need == 0) return true;
  absl::StatusOr<std::vector<int32_t>> fresh = allocator_.Allocate(need);
  if (!fresh.ok()) return false;
  size_t k = 0;
  for (int i : shared) {
    const int32_t copy = (*fresh)[k++];
    pending_copies_.emplace_back(s.blocks[i], copy);
    allocator_.Release(s.blocks[i]);
    s.blocks[i] = copy;
    if (i < s.blocks_sent) s.replaced_blocks.emplace_back(i, copy);
    // The copy is not in the prefix cache; the original keeps the hash.
    ++stats_.block_copies;
  }
  s.blocks.insert(s.blocks.end(), fresh->begin() + k, fresh->end());
  return true;
}

void Engine::TakePrefixHits(Sequence& s) {
  if (!options_.enable_prefix_caching) return;
  const int bs = worker_.block_size;
  // Always recompute at least the last known token: its logits are needed.
  const int max_blocks = (static_cast<int>(s.tokens.size()) - 1) / bs;
  stats_.prefix_cache_queried_tokens += max_blocks * bs;
  BlockHash parent;
  for (int i = 0; i < max_blocks; ++i) {
    const BlockHash h = HashBlock(
        parent, absl::MakeConstSpan(s.tokens.data() + i * bs, bs), options_.cache_salt);
    std::optional<int32_t> block = allocator_.Lookup(h);
    if (!block.has_value()) break;
    s.blocks.push_back(*block);
    s.block_hashes.push_back(h);
    parent = h;
  }
  s.num_computed = static_cast<int>(s.blocks.size()) * bs;
  s.num_cached = s.num_computed;
}

void Engine::RegisterFullBlocks(Sequence& s, int computed) {
  if (!options_.enable_prefix_caching) return;
  const int bs = worker_.block_size;
  // With a step in flight, num_computed runs ahead of what has returned and
  // of `tokens` (the sample in flight): only `computed` is certain.
  computed = std::min<int>(computed, s.tokens.size());
  const int full = std::min<int>(computed / bs, s.blocks.size());
  while (static_cast<int>(s.block_hashes.size()) < full) {
    const int i = static_cast<int>(s.block_hashes.size());
    const BlockHash parent = i == 0 ? BlockHash{} : s.block_hashes[i - 1];
    const BlockHash h = HashBlock(
        parent, absl::MakeConstSpan(s.tokens.data() + i * bs, bs), options_.cache_salt);
    allocator_.Register(s.blocks[i], h);
    s.block_hashes.push_back(h);
  }
}

void Engine::Fork(Sequence& parent) {
  const int bs = worker_.block_size;
  const int prompt_blocks = BlocksFor(parent.num_prompt);
  for (Sequence* child : parent.fork_children) {
    child->fork_parent = nullptr;
    for (int i = 0; i < prompt_blocks; ++i) {
      child->blocks.push_back(parent.blocks[i]);
      allocator_.AddRef(parent.blocks[i]);
    }
    // The child recomputes the last prompt token for its own first sample;
    // that write copies the shared block first (TryGrow).
    child->num_computed = parent.num_prompt - 1;
    child->num_cached = parent.num_cached;
    const int hashed = std::min<int>((parent.num_prompt - 1) / bs,
                                     parent.block_hashes.size());
    child->block_hashes.assign(parent.block_hashes.begin(),
                               parent.block_hashes.begin() + hashed);
    child->first_scheduled = parent.first_scheduled;
    running_.push_back(child);
    child->is_running = true;
  }
  parent.fork_children.clear();
}

void Engine::AddChunk(Sequence& s, int n, StepPlan& plan, int k,
                      std::vector<int32_t> drafts) {
  if (s.first_scheduled == absl::InfinitePast()) s.first_scheduled = step_start_;
  ScheduledChunk chunk;
  chunk.seq_id = s.id;
  chunk.num_tokens = n;
  chunk.num_speculative_tokens = k;
  chunk.draft_tokens = std::move(drafts);
  if (!s.known_to_worker) {
    // The spec carries `tokens`, which must hold every sample (Admissible).
    LLM_CHECK(s.inflight_samples == 0) << "sequence " << s.id << " sent with a sample in flight";
    SequenceSpec spec;
    spec.seq_id = s.id;
    spec.prompt_tokens.assign(s.tokens.begin(), s.tokens.begin() + s.num_prompt);
    spec.output_tokens.assign(s.tokens.begin() + s.num_prompt, s.tokens.end());
    spec.params = s.request->params;
    spec.seed = s.seed;
    spec.sample_index = s.sample_index;
    spec.block_table = s.blocks;
    spec.num_computed_tokens = s.num_computed;
    plan.new_sequences.push_back(std::move(spec));
    s.known_to_worker = true;
  } else {
    chunk.replaced_blocks = std::move(s.replaced_blocks);
    chunk.new_blocks.assign(s.blocks.begin() + s.blocks_sent, s.blocks.end());
  }
  s.replaced_blocks.clear();
  s.blocks_sent = static_cast<int>(s.blocks.size());
  chunk.sample = s.num_computed + n == s.num_known();
  if (s.num_computed < s.num_prompt) {
    stats_.prompt_tokens += std::min(n, s.num_prompt - s.num_computed);
    // A sequence that will speculate with the worker's draft model has the
    // draft compute its prompt now, during prefill (as vLLM's draft runner
    // does), not in its first verification step, whose decode latency it
    // would otherwise add to.
    chunk.draft_catch_up =
        options_.speculative.source == DraftSource::kDraftModel && s.spec_max_k > 0 && k == 0;
  }
  s.num_computed += n;
  ++s.inflight_chunks;
  if (chunk.sample) ++s.inflight_samples;
  planned_.push_back({s.id, s.num_computed, chunk.sample});
  plan.chunks.push_back(std::move(chunk));
}

bool Engine::ScheduleRunning(Budget& budget, StepPlan& plan) {
  bool preempted = false;
  const std::vector<Sequence*> order(running_.begin(), running_.end());
  for (Sequence* s : order) {
    if (!s->is_running) continue;  // preempted earlier in this loop
    if (budget.seqs == 0 || budget.tokens == 0) break;
    if (StopsInFlight(*s)) continue;
    const int n = std::min(s->num_pending(), budget.tokens);
    if (n <= 0) continue;
    std::vector<int32_t> drafts;
    int k = PlanSpeculation(*s, budget.tokens, drafts);
    // Speculation never preempts anyone: without room it is skipped.
    if (k > 0 && !TryGrow(*s, s->num_computed + n + k)) {
      k = 0;
      drafts.clear();
    }
    while (!TryGrow(*s, s->num_computed + n)) {
      Sequence* victim = running_.back();
      Preempt(victim);
      // The victim's state on the worker must go before anything else.
      plan.finished.insert(plan.finished.end(), finished_for_worker_.begin(),
                           finished_for_worker_.end());
      finished_for_worker_.clear();
      preempted = true;
      if (victim == s) break;
    }
    if (!s->is_running) continue;
    AddChunk(*s, n, plan, k, std::move(drafts));
    budget.tokens -= n + k;
    budget.seqs -= 1;
  }
  return preempted;
}

void Engine::ScheduleWaiting(Budget& budget, StepPlan& plan) {
  const int watermark = static_cast<int>(
      std::ceil(allocator_.num_blocks() * options_.admission_watermark));
  while (!waiting_.empty() && budget.seqs > 0 && budget.tokens > 0) {
    Sequence* s = waiting_.front();
    if (!Admissible(*s)) break;  // FCFS: for one step, until its result is in
    const bool fresh = s->blocks.empty() && s->num_computed == 0;
    if (fresh) TakePrefixHits(*s);
    const int n = std::min(s->num_pending(), budget.tokens);
    const int need = BlocksFor(s->num_computed + n) - static_cast<int>(s->blocks.size());
    // The watermark only guards admissions into a non-empty batch; an empty
    // batch must always be able to make progress.
    const int reserve = running_.empty() ? 0 : watermark;
    if (allocator_.num_free() - need < reserve || !TryGrow(*s, s->num_computed + n)) {
      if (fresh) ReleaseBlocks(*s);  // give the prefix hits back
      break;
    }
    if (fresh) stats_.prefix_cache_hit_tokens += s->num_cached;
    waiting_.pop_front();
    running_.push_back(s);
    s->is_running = true;
    AddChunk(*s, n, plan);
    budget.tokens -= n;
    budget.seqs -= 1;
  }
}

void Engine::Preempt(Sequence* s) {
  ++stats_.preemptions;
  running_.remove(s);
  s->is_running = false;
  FreeSequence(*s);
  s->num_computed = 0;
  waiting_.push_front(s);
}

void Engine::ReleaseBlocks(Sequence& s) {
  // Reverse order, so a cached prefix's tail is evicted before its head.
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) allocator_.Release(*it);
  s.blocks.clear();
  s.block_hashes.clear();
  s.replaced_blocks.clear();
  s.num_computed = 0;
  s.num_cached = 0;
}

void Engine::FreeSequence(Sequence& s) {
  ReleaseBlocks(s);
  s.blocks_sent = 0;
  if (s.known_to_worker) finished_for_worker_.push_back(s.id);
  s.known_to_worker = false;
}

void Engine::Finish(Sequence& s, FinishReason reason) {
  s.finish_reason = reason;
  if (s.fork_parent != nullptr) {
    auto& siblings = s.fork_parent->fork_children;
    siblings.erase(std::remove(siblings.begin(), siblings.end(), &s), siblings.end());
    s.fork_parent = nullptr;
  }
  // Children still waiting for this parent to fork them end with it.
  while (!s.fork_children.empty()) Finish(*s.fork_children.back(), reason);
  if (s.is_running) {
    running_.remove(&s);
    s.is_running = false;
  } else {
    auto it = std::find(waiting_.begin(), waiting_.end(), &s);
    if (it != waiting_.end()) waiting_.erase(it);
  }
  FreeSequence(s);
  SequenceUpdate update;
  update.request_id = s.request_id;
  update.sample_index = s.sample_index;
  update.finish_reason = reason;
  update.num_prompt_tokens = s.num_prompt;
  if (reason == FinishReason::kCancelled && s.on_update) s.on_update(update);
  const std::string request_id = s.request_id;
  seqs_.erase(s.id);
  if (--live_samples_[request_id] == 0) {
    live_samples_.erase(request_id);
    requests_.erase(request_id);
  }
}

EngineStats& EngineStats::operator+=(const EngineStats& o) {
  steps += o.steps;
  preemptions += o.preemptions;
  prompt_tokens += o.prompt_tokens;
  generated_tokens += o.generated_tokens;
  prefix_cache_queried_tokens += o.prefix_cache_queried_tokens;
  prefix_cache_hit_tokens += o.prefix_cache_hit_tokens;
  block_copies += o.block_copies;
  spec_verifications += o.spec_verifications;
  spec_proposed_tokens += o.spec_proposed_tokens;
  spec_accepted_tokens += o.spec_accepted_tokens;
  spec_ngram_verifications += o.spec_ngram_verifications;
  spec_ngram_proposed_tokens += o.spec_ngram_proposed_tokens;
  spec_ngram_accepted_tokens += o.spec_ngram_accepted_tokens;
  spec_draft_model_verifications += o.spec_draft_model_verifications;
  spec_draft_model_proposed_tokens += o.spec_draft_model_proposed_tokens;
  spec_draft_model_accepted_tokens += o.spec_draft_model_accepted_tokens;
  return *this;
}

}  // namespace llm
