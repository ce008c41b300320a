// File: worker/worker_service.h
//
// WorkerService: the llm.worker.v1.Worker gRPC service in front of one
// LocalWorker. Describe reports the model and the KV pool; Execute is a
// bidirectional stream on which each StepPlan is executed and answered with
// its StepResult, in order. A plan the model runner rejects is answered with
// a result carrying the status (INVALID_ARGUMENT ...); the stream and the
// worker keep going, the runner's state unchanged.
//
// Steps run one at a time (a mutex around the LocalWorker), inline in the
// reactor's read callback: a stream has at most one plan outstanding, and
// the step is the only work this process does, so there is nothing for the
// callback thread to be freed for.
//
// Thread safety: thread-safe; gRPC calls it from its own threads.
#ifndef LLM_WORKER_WORKER_SERVICE_H_
#define LLM_WORKER_WORKER_SERVICE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/step_plan.h"
#include "llm/worker/v1/worker.grpc.pb.h"
#include "worker/local_worker.h"
#include "worker/worker_metrics.h"

namespace llm {

class WorkerService final : public worker::v1::Worker::CallbackService {
 public:
  // REQUIRES: worker (and metrics, when not null) outlive the service.
  WorkerService(LocalWorker& worker, WorkerMetrics* metrics);

  grpc::ServerUnaryReactor* Describe(grpc::CallbackServerContext* context,
                                     const worker::v1::DescribeRequest* request,
                                     worker::v1::DescribeResponse* response) override;
  grpc::ServerBidiReactor<worker::v1::StepPlan, worker::v1::StepResult>*
  Execute(grpc::CallbackServerContext* context) override;

  // Executes one plan (what the Execute stream does per message).
  void ExecuteOne(const worker::v1::StepPlan& plan, worker::v1::StepResult* result);

  worker::v1::DescribeResponse Description() const;

  // Drops the runner's state of these sequences (an Execute stream ended
  // and its scheduler will not finish them).
  void ReleaseSequences(const absl::flat_hash_set<SeqId>& ids);

 private:
  LocalWorker& worker_;
  WorkerMetrics* const metrics_;
  absl::Mutex mu_;
  // Sequences the runner holds (for the metrics gauge).
  absl::flat_hash_set<SeqId> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llm

#endif  // LLM_WORKER_WORKER_SERVICE_H_
