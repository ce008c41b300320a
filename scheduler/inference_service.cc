// File: scheduler/inference_service.cc
#include "scheduler/inference_service.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "scheduler/generate_reactor.h"
#include "scheduler/grpc_status.h"
#include "scheduler/utf8_sanitize.h"

namespace llm {
namespace {

const std::vector<WorkerGroup> kNoGroups;

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
    gi->set_backend(g.loop->worker().backend);
    gi->set_num_kv_blocks(s.blocks_total);
    gi->set_num_kv_blocks_used(s.blocks_used);
    gi->set_block_size(g.loop->worker().block_size);
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
  }
  return g;
}

absl::StatusOr<EngineLoop*> InferenceService::Admit(LoopRequest request) {
  if (!ready()) {
    return absl::UnavailableError("no worker is connected yet; retry shortly");
  }
  absl::MutexLock lock(&admission_mu_);
  int waiting = 0;
  EngineLoop* best = nullptr;
  int best_load = std::numeric_limits<int>::max();
  for (const WorkerGroup& g : groups_) {
    waiting += g.loop->Stats().waiting;
    if (g.loop->load() < best_load) {
      best_load = g.loop->load();
      best = g.loop.get();
    }
  }
  if (waiting >= options_.max_queue) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the admission queue is full (%d sequences waiting, --max-queue %d); retry later",
        waiting, options_.max_queue));
  }
  best->Submit(std::move(request));
  return best;
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
