// File: worker/worker_service.cc
#include "worker/worker_service.h"

#include "absl/time/clock.h"
#include "proto/step_plan_proto.h"

namespace llm {
namespace {

namespace pb = ::llm::worker::v1;

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "worker shutting down");
}

// The sequences a stream's scheduler owns, from the plans that succeeded.
void Track(const pb::StepPlan& plan, const pb::StepResult& result,
           absl::flat_hash_set<SeqId>& owned) {
  if (result.has_status() && result.status().code() != 0) return;
  for (uint64_t id : plan.finished()) owned.erase(id);
  for (const pb::SequenceSpec& s : plan.new_sequences()) owned.insert(s.seq_id());
}

int BatchTokens(const StepPlan& plan) {
  int n = 0;
  for (const ScheduledChunk& c : plan.chunks) n += c.num_tokens;
  return n;
}

}  // namespace

WorkerService::WorkerService(LocalWorker& worker, WorkerMetrics* metrics)
    : worker_(worker), metrics_(metrics) {}

pb::DescribeResponse WorkerService::Description() const {
  pb::DescribeResponse d;
  const KvCacheShape& kv = worker_.kv_shape();
  d.set_backend(worker_.backend_name());
  d.set_num_kv_blocks(kv.num_blocks);
  d.set_block_size(kv.block_size);
  d.set_context_length(worker_.config().context_length);
  d.set_vocab_size(worker_.config().n_vocab);
  d.set_model_name(worker_.config().name);
  d.set_architecture(worker_.config().architecture);
  d.set_kv_cache_bytes(kv.bytes_per_block() * kv.num_blocks);
  d.set_has_draft_model(worker_.has_draft_model());
  return d;
}

grpc::ServerUnaryReactor* WorkerService::Describe(grpc::CallbackServerContext* context,
                                                  const pb::DescribeRequest*,
                                                  pb::DescribeResponse* response) {
  *response = Description();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::GetTensorParallelId(
    grpc::CallbackServerContext* context, const pb::GetTensorParallelIdRequest* request,
    pb::GetTensorParallelIdResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (tp_id_.empty() || request->tp_size() != tp_size_) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        "this worker is not rank 0 of a tensor-parallel group of size " +
            std::to_string(request->tp_size()) + " (its --tp-size is " +
            std::to_string(tp_size_) + ")"));
    return reactor;
  }
  response->set_nccl_unique_id(tp_id_);
  response->set_tp_size(tp_size_);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::Status WorkerService::Execute(grpc::ServerContext*,
                                    grpc::ServerReaderWriter<pb::StepResult, pb::StepPlan>* stream) {
  absl::flat_hash_set<SeqId> owned;
  pb::StepPlan plan;
  pb::StepResult result;
  grpc::Status status = grpc::Status::OK;
  // Read fails when the scheduler closed its side or the call was
  // cancelled (scheduler gone, or the server shutting down after Drain).
  while (stream->Read(&plan)) {
    if (!BeginStep()) {
      status = ShuttingDown();
      break;
    }
    ExecuteOne(plan, &result);
    Track(plan, result, owned);
    const bool wrote = stream->Write(result);
    EndStep();
    if (!wrote) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "result not delivered");
      break;
    }
    if (draining()) {
      status = ShuttingDown();
      break;
    }
  }
  // The scheduler that owned this stream's sequences is gone (or done):
  // their state would only leak and clash with the ids of the next one.
  ReleaseSequences(owned);
  return status;
}

void WorkerService::ExecuteOne(const pb::StepPlan& proto_plan, pb::StepResult* out) {
  const StepPlan plan = FromProto(proto_plan);
  absl::MutexLock lock(&mu_);
  const absl::Time start = absl::Now();
  absl::StatusOr<StepResult> result = worker_.Execute(plan);
  const absl::Duration took = absl::Now() - start;
  if (!result.ok()) {
    out->Clear();
    out->set_step_id(plan.step_id);
    StatusToProto(result.status(), out);
  } else {
    ToProto(*result, out);
    for (SeqId id : plan.finished) live_.erase(id);
    for (const SequenceSpec& s : plan.new_sequences) live_.insert(s.seq_id);
  }
  if (metrics_ != nullptr) {
    metrics_->RecordStep(took, BatchTokens(plan), result.ok(),
                         static_cast<int>(live_.size()));
  }
}

bool WorkerService::BeginStep() {
  absl::MutexLock lock(&drain_mu_);
  if (draining_) return false;
  ++steps_running_;
  return true;
}

void WorkerService::EndStep() {
  absl::MutexLock lock(&drain_mu_);
  --steps_running_;
}

bool WorkerService::draining() {
  absl::MutexLock lock(&drain_mu_);
  return draining_;
}

bool WorkerService::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&drain_mu_);
  draining_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(drain_mu_) { return steps_running_ == 0; };
  return drain_mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void WorkerService::ReleaseSequences(const absl::flat_hash_set<SeqId>& ids) {
  if (ids.empty()) return;
  StepPlan plan;
  plan.finished.assign(ids.begin(), ids.end());
  absl::MutexLock lock(&mu_);
  // A plan with only `finished` computes nothing; it cannot fail for ids
  // the runner holds.
  worker_.Execute(plan).IgnoreError();
  for (SeqId id : ids) live_.erase(id);
}

}  // namespace llm
