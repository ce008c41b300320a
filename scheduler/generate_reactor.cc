// File: scheduler/generate_reactor.cc
#include "scheduler/generate_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "scheduler/grpc_status.h"
#include "scheduler/inference_service.h"
#include "scheduler/request_validation.h"
#include "scheduler/utf8_sanitize.h"

namespace llm {
namespace {

// A request is sent to at most this many worker groups.
constexpr int kMaxAttempts = 3;

}  // namespace

GenerateReactor* GenerateReactor::Start(InferenceService& service,
                                        grpc::CallbackServerContext* context,
                                        const v1::GenerateRequest& request) {
  auto* r = new GenerateReactor(service, request);
  r->self_.reset(r);
  service.StreamOpened();
  r->Begin(context);
  return r;
}

GenerateReactor::GenerateReactor(InferenceService& service,
                                 const v1::GenerateRequest& request)
    : service_(service), request_(request), arrival_(absl::Now()) {}

void GenerateReactor::Reject(const grpc::Status& status, const std::string& finish_label) {
  {
    absl::MutexLock lock(&mu_);
    final_status_ = status;
    finish_label_ = finish_label;
  }
  Pump();
}

void GenerateReactor::Begin(grpc::CallbackServerContext* context) {
  if (service_.draining()) {
    Reject(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down; retry on another replica"),
           "rejected");
    return;
  }
  absl::StatusOr<PreparedGenerate> prepared = PrepareGenerate(request_, service_.model());
  if (!prepared.ok()) {
    Reject(ToGrpcStatus(prepared.status()), "rejected");
    return;
  }
  engine_id_ = service_.NextRequestId();
  prompt_tokens_ = static_cast<int>(prepared->request.prompt_tokens.size());
  stop_ids_ = prepared->request.stop_token_ids;
  const Tokenizer& tokenizer = *service_.model().tokenizer;

  engine_request_ = std::move(prepared->request);
  engine_request_.request_id = engine_id_;

  absl::Status admitted;
  {
    absl::MutexLock lock(&mu_);
    samples_.resize(engine_request_.n);
    for (Sample& s : samples_) {
      s.detok.emplace(tokenizer);
      s.matcher.emplace(prepared->stop);
    }
    // Under mu_ so that no update is handled before loop_ is set.
    Submit(admitted);
  }
  if (!admitted.ok()) {
    Reject(ToGrpcStatus(admitted), "rejected");
    return;
  }
  if (SchedulerMetrics* m = service_.metrics()) m->AddPromptTokens(prompt_tokens_);
}

bool GenerateReactor::Submit(absl::Status& status) {
  LoopRequest lr;
  lr.request = engine_request_;
  std::shared_ptr<GenerateReactor> self = self_;
  lr.on_update = [self](const SequenceUpdate& u) { self->OnUpdate(u); };
  lr.on_error = [self](const absl::Status& s) { self->OnLoopError(s); };
  ++attempts_;
  absl::StatusOr<EngineLoop*> loop = service_.Admit(std::move(lr));
  if (!loop.ok()) {
    status = loop.status();
    return false;
  }
  loop_ = *loop;
  return true;
}

void GenerateReactor::FinishSample(Sample& s, int index, const std::string& reason,
                                   v1::GenerateResponse* msg) {
  s.finished = true;
  msg->set_finish_reason(reason);
  v1::Usage* usage = msg->mutable_usage();
  usage->set_prompt_tokens(prompt_tokens_);
  usage->set_completion_tokens(s.completion_tokens);
  usage->set_proposed_draft_tokens(s.proposed_draft_tokens);
  usage->set_accepted_draft_tokens(s.accepted_draft_tokens);
  if (index == 0 || finish_label_.empty()) finish_label_ = reason;
}

void GenerateReactor::OnUpdate(const SequenceUpdate& u) {
  bool cancel_engine = false;
  int cancel_sample = -1;
  EngineLoop* loop = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (done_ || final_status_.has_value() || u.sample_index < 0 ||
        u.sample_index >= static_cast<int>(samples_.size())) {
      return;
    }
    Sample& s = samples_[u.sample_index];
    if (u.finish_reason != FinishReason::kNone) s.engine_finished = true;
    if (s.finished) return;  // ended by a stop string; the engine lags
    s.proposed_draft_tokens += u.num_proposed_draft_tokens;
    s.accepted_draft_tokens += u.num_accepted_draft_tokens;

    const absl::Time now = absl::Now();
    SchedulerMetrics* metrics = service_.metrics();
    v1::GenerateResponse msg;
    msg.set_request_id(request_.request_id().empty() ? engine_id_ : request_.request_id());
    msg.set_index(u.sample_index);
    std::string text;
    const Tokenizer& tokenizer = *service_.model().tokenizer;
    const bool want_logprobs = request_.sampling().logprobs() > 0;
    for (size_t i = 0; i < u.new_tokens.size(); ++i) {
      const SampledToken& t = u.new_tokens[i];
      if (metrics != nullptr) {
        if (!first_token_seen_) {
          metrics->ObserveTimeToFirstToken(now - arrival_);
          const absl::Time scheduled = u.first_scheduled != absl::InfinitePast()
                                           ? u.first_scheduled
                                           : loop_->step_start();
          metrics->ObserveQueueTime(std::max(absl::ZeroDuration(), scheduled - arrival_));
        } else if (s.completion_tokens > 0 && i == 0) {
          metrics->ObserveInterTokenLatency(now - s.last_token);
        }
      }
      first_token_seen_ = true;
      ++s.completion_tokens;
      msg.add_token_ids(t.token);
      if (want_logprobs) {
        v1::GeneratedTokenLogprobs* lp = msg.add_logprobs();
        lp->set_token_id(t.token);
        lp->set_logprob(t.logprob);
        for (const TokenLogprob& alt : t.top) {
          v1::TokenLogprob* a = lp->add_top();
          a->set_token_id(alt.token);
          a->set_logprob(alt.logprob);
          a->set_text(SanitizeUtf8(tokenizer.TokenBytes(alt.token)));
        }
      }
      // The token that ended the sample (EOS, a stop id) shows no text.
      const bool is_stop_token =
          u.finish_reason == FinishReason::kStop && i + 1 == u.new_tokens.size() &&
          (tokenizer.IsEndOfGeneration(t.token) ||
           std::find(stop_ids_.begin(), stop_ids_.end(), t.token) != stop_ids_.end());
      if (!is_stop_token) text += s.matcher->Append(s.detok->Append(t.token));
      if (s.matcher->stopped()) break;  // later tokens of this update are dropped
    }
    if (metrics != nullptr && !u.new_tokens.empty()) {
      metrics->AddGenerationTokens(static_cast<int>(u.new_tokens.size()));
    }
    s.last_token = now;
    if (!s.matcher->stopped() && u.finish_reason != FinishReason::kNone) {
      text += s.matcher->Append(s.detok->Flush());
      text += s.matcher->Flush();
    }
    msg.set_text(std::move(text));
    if (s.matcher->stopped()) {
      FinishSample(s, u.sample_index, "stop", &msg);
    } else if (u.finish_reason != FinishReason::kNone) {
      FinishSample(s, u.sample_index, FinishReasonName(u.finish_reason), &msg);
    }
    if (s.finished) {
      msg.mutable_usage()->set_cached_tokens(u.num_cached_tokens);
      if (metrics != nullptr && u.sample_index == 0 && u.num_cached_tokens > 0) {
        metrics->AddPrefixCacheHitTokens(u.num_cached_tokens);
      }
    }
    if (msg.token_ids_size() > 0 || !msg.text().empty() || s.finished) {
      outbox_.push_back(std::move(msg));
    }
    // A sample ended by a stop string may still run in the engine: it gives
    // its blocks back at once, while its siblings go on. Once every sample
    // has ended for the client, the request is cancelled as a whole (also
    // covering samples the engine could not cancel alone).
    if (s.finished && !s.engine_finished) cancel_sample = u.sample_index;
    const bool all_finished = std::all_of(samples_.begin(), samples_.end(),
                                          [](const Sample& x) { return x.finished; });
    const bool engine_busy = std::any_of(samples_.begin(), samples_.end(),
                                         [](const Sample& x) { return !x.engine_finished; });
    if (all_finished && engine_busy && !cancel_sent_) {
      cancel_sent_ = true;
      cancel_engine = true;
    }
    loop = loop_;
  }
  if (cancel_engine) {
    loop->Cancel(engine_id_);
  } else if (cancel_sample >= 0) {
    loop->CancelSample(engine_id_, cancel_sample);
  }
  Pump();
}

void GenerateReactor::OnLoopError(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (done_ || final_status_.has_value()) return;
    // The group lost its worker before the client saw anything of this
    // request: run it again elsewhere. (After the first token the client
    // would see the stream restart, so the call ends instead.)
    absl::Status retry_status = status;
    if (absl::IsUnavailable(status) && !first_token_seen_ && !cancel_sent_ &&
        attempts_ < kMaxAttempts && Submit(retry_status)) {
      return;
    }
    outbox_.clear();
    final_status_ = ToGrpcStatus(retry_status);
    finish_label_ = "error";
  }
  Pump();
}

void GenerateReactor::OnCancel() {
  EngineLoop* loop = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!final_status_.has_value()) {
      final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
      finish_label_ = "cancelled";
    }
    if (loop_ != nullptr && !cancel_sent_) {
      cancel_sent_ = true;
      loop = loop_;
    }
  }
  if (loop != nullptr) loop->Cancel(engine_id_);
  Pump();
}

void GenerateReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
  }
  if (!ok) {
    OnCancel();  // the client is gone
    return;
  }
  Pump();
}

void GenerateReactor::Pump() {
  enum class Action { kNone, kWrite, kFinish } action = Action::kNone;
  grpc::Status status;
  std::string label;
  {
    absl::MutexLock lock(&mu_);
    if (finish_called_ || write_in_flight_) return;
    const bool all_finished = !samples_.empty() &&
                              std::all_of(samples_.begin(), samples_.end(),
                                          [](const Sample& x) { return x.finished; });
    if (final_status_.has_value()) {
      status = *final_status_;
      action = Action::kFinish;
    } else if (!outbox_.empty()) {
      writing_ = std::move(outbox_.front());
      outbox_.pop_front();
      write_in_flight_ = true;
      action = Action::kWrite;
    } else if (all_finished) {
      status = grpc::Status::OK;
      action = Action::kFinish;
    }
    if (action == Action::kFinish) finish_called_ = true;
    label = finish_label_;
  }
  if (action == Action::kWrite) {
    StartWrite(&writing_);
  } else if (action == Action::kFinish) {
    if (SchedulerMetrics* m = service_.metrics()) {
      if (status.ok()) m->ObserveEndToEnd(absl::Now() - arrival_);
      m->CountRequest(label, GrpcCodeName(status.error_code()));
    }
    Finish(status);
  }
}

void GenerateReactor::OnDone() {
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  service_.StreamClosed();
  // Deletes this at return unless the engine loop still holds a callback.
  std::shared_ptr<GenerateReactor> keep = std::move(self_);
}

}  // namespace llm
