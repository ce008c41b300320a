// File: scheduler/inference_service.cc
#include "scheduler/inference_service.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "scheduler/generate_reactor.h"
#include "scheduler/grpc_status.h"
#include "scheduler/prefix_index.h"
#include "scheduler/utf8_sanitize.h"

namespace llm {
namespace {

const std::vector<WorkerGroup> kNoGroups;
// Prompt blocks hashed for routing: enough for long shared system prompts,
// bounded so routing stays cheap.
constexpr int kMaxRoutedBlocks = 64;

}  // namespace

InferenceService::InferenceService(InferenceOptions options,
                                   std::unique_ptr<Tokenizer> tokenizer, ModelFacts facts)
    : options_(std::move(options)), tokenizer_(std::move(tokenizer)), facts_(facts) {}

void InferenceService::SetGroups(std::vector<WorkerGroup> groups) {
  groups_ = std::move(groups);
  ready_.store(true, std::memory_order_release);
}

InferenceService::~InferenceService() = default;

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return GenerateReactor::Start(*this, context, *request);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::vector<int32_t>> ids = PrepareTokenize(*request, facts_);
  if (!ids.ok()) {
    reactor->Finish(ToGrpcStatus(ids.status()));
    return reactor;
  }
  for (int32_t id : *ids) {
    response->add_token_ids(id);
    response->add_tokens(SanitizeUtf8(tokenizer_->TokenBytes(id, /*render_special=*/true)));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

v1::ModelInfo InferenceService::Info() const {
  v1::ModelInfo info;
  info.set_model_name(options_.model_name);
  info.set_architecture(options_.architecture);
  info.set_context_length(facts_.context_length);
  info.set_vocab_size(facts_.vocab_size);
  for (int32_t id : tokenizer_->end_of_generation_ids()) {
    info.add_end_of_generation_token_ids(id);
  }
  info.set_supports_chat(facts_.chat_family.has_value());
  int total = 0, used = 0;
  // Before SetGroups there is nothing to list.
  for (const WorkerGroup& g : ready() ? groups_ : kNoGroups) {
    const LoopStats s = g.loop->Stats();
    v1::WorkerGroupInfo* gi = info.add_worker_groups();
    for (const std::string& a : g.addresses) gi->add_addresses(a);
    const WorkerDescription worker = g.loop->worker();
    gi->set_backend(worker.backend);
    gi->set_num_kv_blocks(s.blocks_total);
    gi->set_num_kv_blocks_used(s.blocks_used);
    gi->set_block_size(worker.block_size);
    gi->set_available(g.loop->available());
    if (!g.loop->available()) {
      gi->set_unavailable_reason(std::string(g.loop->availability().message()));
    }
    gi->set_worker_failures(s.worker_failures);
    gi->set_num_running(s.running);
    gi->set_num_waiting(s.waiting);
    total += s.blocks_total;
    used += s.blocks_used;
  }
  info.set_num_kv_blocks(total);
  info.set_num_kv_blocks_used(used);
  info.set_batching(options_.batching);
  info.set_max_num_seqs(options_.max_num_seqs);
  info.set_max_batched_tokens(options_.max_batched_tokens);
  info.set_max_queue(options_.max_queue);
  return info;
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest*,
    v1::ModelInfo* response) {
  *response = Info();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

SchedulerGauges InferenceService::Gauges() const {
  SchedulerGauges g;
  if (!ready()) return g;
  for (const WorkerGroup& group : groups_) {
    const LoopStats s = group.loop->Stats();
    g.running += s.running;
    g.waiting += s.waiting;
    g.blocks_used += s.blocks_used;
    g.blocks_total += s.blocks_total;
    g.preemptions += s.preemptions;
    g.groups += 1;
    g.groups_available += group.loop->available() ? 1 : 0;
    g.worker_failures += s.worker_failures;
    g.spec_ngram.verifications += s.engine.spec_ngram_verifications;
    g.spec_ngram.proposed += s.engine.spec_ngram_proposed_tokens;
    g.spec_ngram.accepted += s.engine.spec_ngram_accepted_tokens;
    g.spec_draft_model.verifications += s.engine.spec_draft_model_verifications;
    g.spec_draft_model.proposed += s.engine.spec_draft_model_proposed_tokens;
    g.spec_draft_model.accepted += s.engine.spec_draft_model_accepted_tokens;
  }
  return g;
}

absl::StatusOr<EngineLoop*> InferenceService::Admit(LoopRequest request) {
  if (!ready()) {
    return absl::UnavailableError("no worker is connected yet; retry shortly");
  }
  absl::MutexLock lock(&admission_mu_);
  int waiting = 0;
  std::vector<EngineLoop*> available;
  std::string down;  // why the others are not
  for (const WorkerGroup& g : groups_) {
    waiting += g.loop->Stats().waiting;
    if (g.loop->available()) {
      available.push_back(g.loop.get());
    } else {
      absl::StrAppend(&down, down.empty() ? "" : "; ", g.loop->availability().message());
    }
  }
  if (available.empty()) {
    return absl::UnavailableError(
        absl::StrCat("no worker group is available (", down, "); retry shortly"));
  }
  if (waiting >= options_.max_queue) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the admission queue is full (%d sequences waiting, --max-queue %d); retry later",
        waiting, options_.max_queue));
  }
  EngineLoop* best = available[0];
  for (EngineLoop* loop : available) {
    if (loop->load() < best->load()) best = loop;
  }
  std::vector<BlockHash> hashes;
  if (available.size() > 1 && options_.prefix_routing) {
    // The group holding the longest prefix of this prompt computes the
    // least, unless that would overload it compared with the idlest group.
    hashes = PromptBlockHashes(request.request.prompt_tokens, best->worker().block_size,
                               options_.cache_salt, kMaxRoutedBlocks);
    const int slack = std::max(4, options_.max_num_seqs / 4);
    int best_match = best->prefixes().MatchLength(hashes);
    for (EngineLoop* loop : available) {
      const int match = loop->prefixes().MatchLength(hashes);
      if (match > best_match && loop->load() <= best->load() + slack) {
        best = loop;
        best_match = match;
      }
    }
    best->prefixes().Record(hashes);
  }
  best->Submit(std::move(request));
  return best;
}

bool InferenceService::any_group_available() const {
  if (!ready()) return false;
  return std::any_of(groups_.begin(), groups_.end(),
                     [](const WorkerGroup& g) { return g.loop->available(); });
}

std::string InferenceService::NextRequestId() {
  return absl::StrCat("req-", next_id_.fetch_add(1));
}

void InferenceService::StreamOpened() {
  absl::MutexLock lock(&streams_mu_);
  ++open_streams_;
}

void InferenceService::StreamClosed() {
  absl::MutexLock lock(&streams_mu_);
  --open_streams_;
}

bool InferenceService::WaitForStreams(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    {
      absl::MutexLock lock(&streams_mu_);
      if (open_streams_ == 0) return true;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace llm
