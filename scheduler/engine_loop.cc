// File: scheduler/engine_loop.cc
#include "scheduler/engine_loop.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace llm {

absl::StatusOr<std::unique_ptr<EngineLoop>> EngineLoop::Start(
    const EngineOptions& options, std::unique_ptr<WorkerChannel> channel) {
  LoopOptions lo;
  lo.engine = options;
  lo.name = "worker";
  std::unique_ptr<EngineLoop> loop = StartConnecting(std::move(lo), std::move(channel));
  if (absl::Status s = loop->WaitFirstAttempt(); !s.ok()) return s;
  return loop;
}

std::unique_ptr<EngineLoop> EngineLoop::StartConnecting(
    LoopOptions options, std::unique_ptr<WorkerChannel> channel) {
  std::unique_ptr<EngineLoop> loop(new EngineLoop(std::move(options), std::move(channel)));
  loop->thread_ = std::thread([l = loop.get()] { l->Run(); });
  return loop;
}

EngineLoop::EngineLoop(LoopOptions options, std::unique_ptr<WorkerChannel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      availability_(absl::UnavailableError(
          absl::StrCat("worker group ", options_.name, " is not connected yet"))) {}

EngineLoop::~EngineLoop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status EngineLoop::WaitFirstAttempt() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&first_attempt_done_));
  return first_attempt_;
}

void EngineLoop::Submit(LoopRequest request) {
  load_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  inbox_.push_back(std::move(request));
  stats_.waiting += 1;
}

void EngineLoop::Cancel(const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  cancels_.push_back({request_id, -1});
}

void EngineLoop::CancelSample(const std::string& request_id, int sample_index) {
  absl::MutexLock lock(&mu_);
  cancels_.push_back({request_id, sample_index});
}

LoopStats EngineLoop::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status EngineLoop::availability() const {
  absl::MutexLock lock(&mu_);
  return availability_;
}

WorkerDescription EngineLoop::worker() const {
  absl::MutexLock lock(&mu_);
  return worker_;
}

bool EngineLoop::stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

absl::Status EngineLoop::Connect() {
  // The first attempt waits the full connect timeout (workers still loading
  // their model); later ones are short, so that stopping is never held up
  // long (the gRPC channel keeps dialling in between anyway).
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = !first_attempt_done_;
  }
  absl::Status reconnect = channel_->Reconnect(
      first ? options_.connect_timeout : std::min(options_.connect_timeout, absl::Seconds(1)));
  if (absl::IsUnimplemented(reconnect)) {
    can_reconnect_ = false;  // in-process: always there
  } else if (!reconnect.ok()) {
    return reconnect;
  }
  absl::StatusOr<WorkerDescription> d = channel_->Describe();
  if (!d.ok()) return d.status();
  if (options_.validate) {
    if (absl::Status s = options_.validate(*d); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(options_.engine, *channel_);
  if (!engine.ok()) return engine.status();
  engine_ = std::move(*engine);
  absl::MutexLock lock(&mu_);
  worker_ = engine_->worker();
  return absl::OkStatus();
}

void EngineLoop::SetAvailability(const absl::Status& status) {
  const bool now_available = status.ok();
  const bool was_available = available_.exchange(now_available, std::memory_order_acq_rel);
  {
    absl::MutexLock lock(&mu_);
    availability_ = status;
  }
  const std::string reason(status.message());
  if (options_.log && (now_available != was_available || reason != logged_reason_)) {
    logged_reason_ = reason;
    nlohmann::json log = {{"event", now_available ? "worker group available"
                                                  : "worker group unavailable"},
                          {"group", options_.name}};
    if (!now_available) log["reason"] = reason;
    std::fprintf(stderr, "%s\n", log.dump().c_str());
  }
  if (now_available != was_available && options_.on_availability_change) {
    options_.on_availability_change();
  }
}

void EngineLoop::Admit(LoopRequest& r) {
  if (engine_ == nullptr) {
    load_.fetch_sub(1, std::memory_order_relaxed);
    r.on_error(availability());
    return;
  }
  const std::string id = r.request.request_id;
  InFlight f{std::move(r.on_update), std::move(r.on_error), r.request.n};
  absl::Status s =
      engine_->Add(std::move(r.request), [this](const SequenceUpdate& u) { OnUpdate(u); });
  if (!s.ok()) {
    load_.fetch_sub(1, std::memory_order_relaxed);
    f.on_error(s);
    return;
  }
  in_flight_.emplace(id, std::move(f));
}

void EngineLoop::OnUpdate(const SequenceUpdate& u) {
  if (u.finish_reason == FinishReason::kError && in_step_) {
    // Held until Step returns: a failed step turns these into on_error with
    // the channel's status (UNAVAILABLE ...), which tells the client more.
    held_errors_.push_back(u);
    return;
  }
  auto it = in_flight_.find(u.request_id);
  if (it == in_flight_.end()) return;  // failed earlier; late updates dropped
  it->second.on_update(u);
  if (u.finish_reason != FinishReason::kNone && --it->second.live_samples == 0) {
    in_flight_.erase(it);
    load_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void EngineLoop::FailAll(const absl::Status& status) {
  absl::flat_hash_map<std::string, InFlight> failed;
  failed.swap(in_flight_);  // OnUpdate ignores the cancellations below
  for (auto& [id, f] : failed) {
    if (engine_ != nullptr) engine_->Cancel(id).IgnoreError();
    f.on_error(status);
    load_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void EngineLoop::RetireEngine() {
  retired_stats_ += engine_->stats();
  engine_.reset();
  // The new session starts with an empty KV pool: nothing is cached.
  prefixes_.Clear();
}

void EngineLoop::Publish() {
  LoopStats s;
  s.engine = retired_stats_;
  if (engine_ != nullptr) {
    s.engine += engine_->stats();
    s.running = engine_->num_running();
    s.waiting = engine_->num_waiting();
    s.blocks_used = engine_->blocks().num_used();
  }
  s.steps = s.engine.steps;
  s.preemptions = s.engine.preemptions;
  s.prompt_tokens = s.engine.prompt_tokens;
  s.generated_tokens = s.engine.generated_tokens;
  s.worker_failures = worker_failures_;
  absl::MutexLock lock(&mu_);
  s.blocks_total = worker_.num_kv_blocks;
  s.waiting += static_cast<int>(inbox_.size());
  stats_ = s;
}

void EngineLoop::Run() {
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    if (engine_ == nullptr) {
      const absl::Status connected = Connect();
      {
        absl::MutexLock lock(&mu_);
        if (!first_attempt_done_) {
          first_attempt_done_ = true;
          first_attempt_ = connected;
        }
      }
      SetAvailability(connected.ok()
                          ? absl::OkStatus()
                          : absl::UnavailableError(absl::StrCat(
                                "worker group ", options_.name,
                                " is unavailable: ", connected.message())));
      Publish();
      if (!connected.ok()) {
        // Requests that raced the failure go back to their senders at once
        // (the front end routes them to an available group).
        std::vector<LoopRequest> inbox;
        {
          absl::MutexLock lock(&mu_);
          auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stop_ || !inbox_.empty();
          };
          mu_.AwaitWithTimeout(absl::Condition(&wake), backoff);
          if (stop_) return;
          inbox.swap(inbox_);
          cancels_.clear();
        }
        for (LoopRequest& r : inbox) Admit(r);
        if (inbox.empty()) backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      backoff = options_.initial_backoff;
    }

    std::vector<LoopRequest> inbox;
    std::vector<CancelOrder> cancels;
    const bool has_work = engine_->HasWork();
    {
      absl::MutexLock lock(&mu_);
      // Evaluated by whichever thread unlocks mu_, so it must not touch the
      // engine.
      auto ready = [this, has_work]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || has_work || !inbox_.empty() || !cancels_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      inbox.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (LoopRequest& r : inbox) Admit(r);
    for (const CancelOrder& c : cancels) {
      if (c.sample_index < 0) {
        engine_->Cancel(c.request_id).IgnoreError();
      } else {
        engine_->CancelSample(c.request_id, c.sample_index).IgnoreError();
      }
    }
    if (engine_->HasWork()) {
      step_start_ = absl::Now();
      in_step_ = true;
      const absl::Status s = engine_->Step();
      in_step_ = false;
      std::vector<SequenceUpdate> held;
      held.swap(held_errors_);
      if (!s.ok()) {
        ++worker_failures_;
        const bool reconnect = can_reconnect_ && absl::IsUnavailable(s);
        // Unavailable first, so that requests sent elsewhere by FailAll's
        // callbacks do not come back here.
        if (reconnect) {
          SetAvailability(absl::UnavailableError(absl::StrCat(
              "worker group ", options_.name, " failed: ", s.message())));
        }
        FailAll(s);
        if (reconnect) {
          RetireEngine();
          Publish();
          continue;  // reconnects at the top
        }
        Publish();
        absl::SleepFor(absl::Milliseconds(100));  // do not spin on a dead worker
        continue;
      }
      for (const SequenceUpdate& u : held) OnUpdate(u);
    }
    Publish();
  }
}

}  // namespace llm
