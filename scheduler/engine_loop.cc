// File: scheduler/engine_loop.cc
#include "scheduler/engine_loop.h"

#include <utility>

#include "absl/time/clock.h"

namespace llm {

absl::StatusOr<std::unique_ptr<EngineLoop>> EngineLoop::Start(
    const EngineOptions& options, std::unique_ptr<WorkerChannel> channel) {
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(options, *channel);
  if (!engine.ok()) return engine.status();
  std::unique_ptr<EngineLoop> loop(new EngineLoop(std::move(channel), std::move(*engine)));
  loop->Publish();
  loop->thread_ = std::thread([l = loop.get()] { l->Run(); });
  return loop;
}

EngineLoop::EngineLoop(std::unique_ptr<WorkerChannel> channel,
                       std::unique_ptr<Engine> engine)
    : channel_(std::move(channel)), engine_(std::move(engine)), worker_(engine_->worker()) {}

EngineLoop::~EngineLoop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::Submit(LoopRequest request) {
  load_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  inbox_.push_back(std::move(request));
  stats_.waiting += 1;
}

void EngineLoop::Cancel(const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  cancels_.push_back(request_id);
}

LoopStats EngineLoop::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void EngineLoop::Admit(LoopRequest& r) {
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
    engine_->Cancel(id).IgnoreError();
    f.on_error(status);
    load_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void EngineLoop::Publish() {
  LoopStats s;
  s.running = engine_->num_running();
  s.waiting = engine_->num_waiting();
  s.blocks_used = engine_->blocks().num_used();
  s.blocks_total = worker_.num_kv_blocks;
  s.steps = engine_->stats().steps;
  s.preemptions = engine_->stats().preemptions;
  s.prompt_tokens = engine_->stats().prompt_tokens;
  s.generated_tokens = engine_->stats().generated_tokens;
  absl::MutexLock lock(&mu_);
  s.waiting += static_cast<int>(inbox_.size());
  stats_ = s;
}

void EngineLoop::Run() {
  while (true) {
    std::vector<LoopRequest> inbox;
    std::vector<std::string> cancels;
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
    for (const std::string& id : cancels) engine_->Cancel(id).IgnoreError();
    if (engine_->HasWork()) {
      step_start_ = absl::Now();
      in_step_ = true;
      const absl::Status s = engine_->Step();
      in_step_ = false;
      std::vector<SequenceUpdate> held;
      held.swap(held_errors_);
      if (!s.ok()) {
        FailAll(s);
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
