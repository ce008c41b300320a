// File: scheduler/generate_reactor.h
//
// GenerateReactor: one Generate call. It validates and admits the request,
// then turns the engine loop's per-sample updates into response messages:
// incremental detokenization (whole UTF-8 characters only), stop strings
// held back and never leaked (a match ends the sample with "stop" and, once
// no sample needs the engine any more, cancels the request there), one final
// message per sample with finish_reason and usage. A client that cancels or
// whose deadline passes cancels the request in the engine, which frees its
// blocks before the next step; a sample ended by a stop string is cancelled
// in the engine on its own. When the request's worker group fails before
// anything was streamed, the request is sent again to another group (the
// client sees nothing of it); after that the call ends with UNAVAILABLE.
//
// Lifetime: shared by the gRPC library (until OnDone) and the engine loop's
// callbacks (until the loop drops the request); whichever lets go last
// deletes it.
//
// Thread safety: gRPC reactions and loop callbacks may run concurrently;
// all state is behind mu_.
#ifndef LLM_SCHEDULER_GENERATE_REACTOR_H_
#define LLM_SCHEDULER_GENERATE_REACTOR_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/incremental_detokenizer.h"
#include "grpcpp/grpcpp.h"
#include "llm/v1/inference.pb.h"
#include "scheduler/engine_loop.h"
#include "scheduler/stop_string_matcher.h"

namespace llm {

class InferenceService;

class GenerateReactor final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // Starts the call: answers errors at once, otherwise admits the request.
  static GenerateReactor* Start(InferenceService& service,
                                grpc::CallbackServerContext* context,
                                const v1::GenerateRequest& request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Sample {
    std::optional<IncrementalDetokenizer> detok;
    std::optional<StopStringMatcher> matcher;
    int completion_tokens = 0;
    int proposed_draft_tokens = 0;
    int accepted_draft_tokens = 0;
    bool finished = false;         // final message queued
    bool engine_finished = false;  // the engine reported its end
    absl::Time last_token;
  };

  GenerateReactor(InferenceService& service, const v1::GenerateRequest& request);
  void Begin(grpc::CallbackServerContext* context);
  void OnUpdate(const SequenceUpdate& u);
  void OnLoopError(const absl::Status& status);
  // Hands the request (again) to the service; false with `status` set when
  // it was not admitted.
  bool Submit(absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishSample(Sample& s, int index, const std::string& reason,
                    v1::GenerateResponse* msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next write, or Finish when everything is written. Call with
  // mu_ unlocked; takes it.
  void Pump();
  void Reject(const grpc::Status& status, const std::string& finish_label);

  InferenceService& service_;
  const v1::GenerateRequest request_;
  std::shared_ptr<GenerateReactor> self_;  // keeps the reactor alive for gRPC
  const absl::Time arrival_;

  absl::Mutex mu_;
  EngineLoop* loop_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string engine_id_;  // set before the loop sees the request
  GenerationRequest engine_request_;  // as admitted, kept for a retry
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
  int prompt_tokens_ = 0;
  std::vector<int32_t> stop_ids_;
  std::vector<Sample> samples_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::GenerateResponse> outbox_ ABSL_GUARDED_BY(mu_);
  v1::GenerateResponse writing_;  // owned by gRPC while a write is in flight
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool first_token_seen_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
  std::string finish_label_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llm

#endif  // LLM_SCHEDULER_GENERATE_REACTOR_H_
