// File: worker/worker_service.cc
#include "worker/worker_service.h"

#include "absl/time/clock.h"
#include "proto/step_plan_proto.h"

namespace llm {
namespace {

namespace pb = ::llm::worker::v1;

// One Execute stream: read a plan, execute it, write its result, repeat.
class ExecuteReactor final : public grpc::ServerBidiReactor<pb::StepPlan, pb::StepResult> {
 public:
  explicit ExecuteReactor(WorkerService& service) : service_(service) {
    StartRead(&plan_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the scheduler closed its side (or the call was cancelled)
      Finish(grpc::Status::OK);
      return;
    }
    service_.ExecuteOne(plan_, &result_);
    Track(plan_, result_);
    StartWrite(&result_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "result not delivered"));
      return;
    }
    StartRead(&plan_);
  }

  void OnDone() override {
    // The scheduler that owned this stream's sequences is gone (or done):
    // their state would only leak and clash with the ids of the next one.
    service_.ReleaseSequences(owned_);
    delete this;
  }

 private:
  void Track(const pb::StepPlan& plan, const pb::StepResult& result) {
    if (result.has_status() && result.status().code() != 0) return;
    for (uint64_t id : plan.finished()) owned_.erase(id);
    for (const pb::SequenceSpec& s : plan.new_sequences()) owned_.insert(s.seq_id());
  }

  WorkerService& service_;
  absl::flat_hash_set<SeqId> owned_;
  pb::StepPlan plan_;
  pb::StepResult result_;
};

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

grpc::ServerBidiReactor<pb::StepPlan, pb::StepResult>* WorkerService::Execute(
    grpc::CallbackServerContext*) {
  return new ExecuteReactor(*this);
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
