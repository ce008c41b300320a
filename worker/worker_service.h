// File: worker/worker_service.h
//
// WorkerService: the llm.worker.v1.Worker gRPC service in front of one
// LocalWorker. Describe reports the model and the KV pool; Execute is a
// bidirectional stream on which each StepPlan is executed and answered with
// its StepResult, in order. A plan the model runner rejects is answered with
// a result carrying the status (INVALID_ARGUMENT ...); the stream and the
// worker keep going, the runner's state unchanged.
//
// Steps run one at a time (a mutex around the LocalWorker), on the thread
// of the stream's synchronous handler: a stream has at most one plan
// outstanding, and the step is the only work this process does, so there
// is nothing for that thread to be freed for.
//
// Drain (SIGTERM) lets the steps already running finish and deliver their
// results, then ends each stream with UNAVAILABLE "worker shutting down"
// instead of reading the next plan; a plan that arrives while draining is
// not executed (same status). The scheduler sees a failed stream, as for a
// worker that went away, but never a step half-applied.
//
// Thread safety: thread-safe; gRPC calls it from its own threads.
#ifndef LLM_WORKER_WORKER_SERVICE_H_
#define LLM_WORKER_WORKER_SERVICE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/step_plan.h"
#include "llm/worker/v1/worker.grpc.pb.h"
#include "worker/local_worker.h"
#include "worker/worker_metrics.h"

namespace llm {

// Describe and GetTensorParallelId use the callback API; Execute is a
// synchronous handler (see Execute below for why).
using WorkerServiceBase = worker::v1::Worker::WithCallbackMethod_Describe<
    worker::v1::Worker::WithCallbackMethod_GetTensorParallelId<worker::v1::Worker::Service>>;

class WorkerService final : public WorkerServiceBase {
 public:
  // REQUIRES: worker (and metrics, when not null) outlive the service.
  WorkerService(LocalWorker& worker, WorkerMetrics* metrics);

  grpc::ServerUnaryReactor* Describe(grpc::CallbackServerContext* context,
                                     const worker::v1::DescribeRequest* request,
                                     worker::v1::DescribeResponse* response) override;
  // One scheduler session: read a plan, execute it, write its result,
  // until the scheduler closes the stream. Synchronous on purpose: the
  // thread that waits in Read is the one that polls the socket and then
  // runs the step, so a plan reaches the model without a thread hand-off
  // (the callback API passed every read and write completion from gRPC's
  // poller to its executor and back: ~10 context switches per step against
  // ~6, measured in docs/perf/batching-analysis.md).
  grpc::Status Execute(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<worker::v1::StepResult, worker::v1::StepPlan>* stream) override;
  // Rank 0 of a tensor-parallel group: the id from SetTensorParallelId.
  grpc::ServerUnaryReactor* GetTensorParallelId(
      grpc::CallbackServerContext* context,
      const worker::v1::GetTensorParallelIdRequest* request,
      worker::v1::GetTensorParallelIdResponse* response) override;
  // Makes this worker serve `nccl_id` to the other ranks of its group of
  // `tp_size`. Call before the server starts (not synchronised).
  void SetTensorParallelId(std::string nccl_id, int tp_size) {
    tp_id_ = std::move(nccl_id);
    tp_size_ = tp_size;
  }

  // Executes one plan (what the Execute stream does per message).
  void ExecuteOne(const worker::v1::StepPlan& plan, worker::v1::StepResult* result);

  worker::v1::DescribeResponse Description() const;

  // Drops the runner's state of these sequences (an Execute stream ended
  // and its scheduler will not finish them).
  void ReleaseSequences(const absl::flat_hash_set<SeqId>& ids);

  // Stops starting steps; waits until every running step has written its
  // result (or failed to), at most `timeout`. False when it timed out.
  bool Drain(absl::Duration timeout);

  // For the Execute streams: BeginStep is false once draining (the plan
  // must not run); otherwise EndStep must follow when its result is written.
  bool BeginStep();
  void EndStep();
  bool draining();

 private:
  LocalWorker& worker_;
  WorkerMetrics* const metrics_;
  // Set before serving, read-only after (rank 0 of a TP group only).
  std::string tp_id_;
  int tp_size_ = 1;
  // Separate from mu_, which is held for a whole step: Drain must not
  // queue behind one.
  absl::Mutex drain_mu_;
  bool draining_ ABSL_GUARDED_BY(drain_mu_) = false;
  int steps_running_ ABSL_GUARDED_BY(drain_mu_) = 0;
  absl::Mutex mu_;
  // Sequences the runner holds (for the metrics gauge).
  absl::flat_hash_set<SeqId> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llm

#endif  // LLM_WORKER_WORKER_SERVICE_H_
