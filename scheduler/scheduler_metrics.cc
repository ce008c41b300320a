// File: scheduler/scheduler_metrics.cc
#include "scheduler/scheduler_metrics.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"

namespace llm {

// Delegates to the registry after refreshing the gauges, so a scrape always
// sees the engine loops' latest state.
class SchedulerMetrics::RefreshingCollectable final : public prometheus::Collectable {
 public:
  explicit RefreshingCollectable(SchedulerMetrics& m) : m_(m) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    m_.Refresh();
    return m_.registry_->Collect();
  }

 private:
  SchedulerMetrics& m_;
};

namespace {

prometheus::Histogram* AddHistogram(prometheus::Registry& r, const std::string& name,
                                    const std::string& help,
                                    prometheus::Histogram::BucketBoundaries buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(r).Add(
      {}, std::move(buckets));
}

prometheus::Gauge* AddGauge(prometheus::Registry& r, const std::string& name,
                            const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

prometheus::Counter* AddCounter(prometheus::Registry& r, const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerMetrics>> SchedulerMetrics::Create(
    const std::string& listen, std::function<SchedulerGauges()> refresh) {
  std::unique_ptr<SchedulerMetrics> m(new SchedulerMetrics());
  m->refresh_ = std::move(refresh);
  m->registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Registry& r = *m->registry_;
  // vLLM's buckets (seconds), so dashboards for either read the same.
  const prometheus::Histogram::BucketBoundaries ttft = {
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
      0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
  const prometheus::Histogram::BucketBoundaries itl = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
      0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0};
  const prometheus::Histogram::BucketBoundaries e2e = {
      0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
      30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0};
  m->ttft_ = AddHistogram(r, "llm_time_to_first_token_seconds",
                          "Arrival of a request to its first generated token", ttft);
  m->itl_ = AddHistogram(r, "llm_inter_token_latency_seconds",
                         "Gap between consecutive tokens of one sample", itl);
  m->e2e_ = AddHistogram(r, "llm_e2e_request_latency_seconds",
                         "Arrival of a request to its last sample's end", e2e);
  m->queue_ = AddHistogram(r, "llm_queue_time_seconds",
                           "Arrival of a request to the start of the first step "
                           "that computed any of it",
                           ttft);
  m->running_ = AddGauge(r, "llm_requests_running", "Sequences in the running batch");
  m->waiting_ = AddGauge(r, "llm_requests_waiting",
                         "Sequences waiting for admission (incl. preempted)");
  m->blocks_used_ = AddGauge(r, "llm_kv_cache_blocks_used", "KV blocks held by sequences");
  m->blocks_total_ = AddGauge(r, "llm_kv_cache_blocks_total", "KV blocks in all pools");
  m->usage_ = AddGauge(r, "llm_kv_cache_usage_ratio", "blocks_used / blocks_total (0-1)");
  m->requests_ = &prometheus::BuildCounter()
                      .Name("llm_requests_total")
                      .Help("Requests ended, by finish reason and gRPC status code")
                      .Register(r);
  m->prompt_tokens_ = AddCounter(r, "llm_prompt_tokens_total",
                                 "Prompt tokens of admitted requests");
  m->generation_tokens_ = AddCounter(r, "llm_generation_tokens_total",
                                     "Tokens generated (all samples)");
  m->prefix_hits_ = AddCounter(r, "llm_prefix_cache_hit_tokens_total",
                               "Prompt tokens served from the prefix cache");
  m->preemptions_ = AddCounter(r, "llm_preemptions_total",
                               "Sequences preempted (blocks freed, recomputed later)");
  m->groups_ = AddGauge(r, "llm_worker_groups", "Worker groups configured (--workers)");
  m->groups_available_ = AddGauge(
      r, "llm_worker_groups_available",
      "Worker groups taking requests (connected, last step succeeded)");
  m->worker_failures_ = AddCounter(
      r, "llm_worker_failures_total",
      "Steps that lost their worker (stream broken or --step-timeout passed)");
  // Speculative decoding (vLLM's spec_decode counters, per draft source):
  // acceptance rate = accepted / draft tokens, mean accepted drafts per
  // verification = accepted / verifications (tokens per verification: + 1).
  auto& verifications = prometheus::BuildCounter()
                            .Name("llm_spec_decode_verifications_total")
                            .Help("Sequence-steps that verified >= 1 draft token, by "
                                  "draft source")
                            .Register(r);
  auto& drafts = prometheus::BuildCounter()
                     .Name("llm_spec_decode_draft_tokens_total")
                     .Help("Draft tokens proposed and scored by the model, by draft source")
                     .Register(r);
  auto& accepted = prometheus::BuildCounter()
                       .Name("llm_spec_decode_accepted_tokens_total")
                       .Help("Draft tokens accepted (emitted as output), by draft source")
                       .Register(r);
  for (auto [counters, source] : {std::pair{&m->spec_ngram_, "ngram"},
                                  std::pair{&m->spec_draft_model_, "draft_model"}}) {
    counters->verifications = &verifications.Add({{"source", source}});
    counters->proposed = &drafts.Add({{"source", source}});
    counters->accepted = &accepted.Add({{"source", source}});
  }
  m->collectable_ = std::make_shared<RefreshingCollectable>(*m);
  // prometheus-cpp reports a failed bind by throwing; caught here only.
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  m->exposer_->RegisterCollectable(m->collectable_);
  return m;
}

SchedulerMetrics::~SchedulerMetrics() { exposer_.reset(); }

int SchedulerMetrics::port() const {
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

void SchedulerMetrics::Refresh() {
  const SchedulerGauges g = refresh_();
  running_->Set(g.running);
  waiting_->Set(g.waiting);
  blocks_used_->Set(g.blocks_used);
  blocks_total_->Set(g.blocks_total);
  usage_->Set(g.blocks_total > 0 ? static_cast<double>(g.blocks_used) / g.blocks_total : 0);
  groups_->Set(g.groups);
  groups_available_->Set(g.groups_available);
  absl::MutexLock lock(&refresh_mu_);
  if (g.worker_failures > worker_failures_seen_) {
    worker_failures_->Increment(static_cast<double>(g.worker_failures - worker_failures_seen_));
    worker_failures_seen_ = g.worker_failures;
  }
  if (g.preemptions > preemptions_seen_) {
    preemptions_->Increment(static_cast<double>(g.preemptions - preemptions_seen_));
    preemptions_seen_ = g.preemptions;
  }
  // Engine counters only grow (LoopStats sums over reconnections), so the
  // difference since the last scrape is what to add.
  auto advance = [](prometheus::Counter* c, int64_t now, int64_t& seen) {
    if (now > seen) {
      c->Increment(static_cast<double>(now - seen));
      seen = now;
    }
  };
  for (auto [counters, now] : {std::pair{&spec_ngram_, g.spec_ngram},
                               std::pair{&spec_draft_model_, g.spec_draft_model}}) {
    advance(counters->verifications, now.verifications, counters->seen.verifications);
    advance(counters->proposed, now.proposed, counters->seen.proposed);
    advance(counters->accepted, now.accepted, counters->seen.accepted);
  }
}

void SchedulerMetrics::ObserveTimeToFirstToken(absl::Duration d) {
  ttft_->Observe(absl::ToDoubleSeconds(d));
}
void SchedulerMetrics::ObserveInterTokenLatency(absl::Duration d) {
  itl_->Observe(absl::ToDoubleSeconds(d));
}
void SchedulerMetrics::ObserveEndToEnd(absl::Duration d) {
  e2e_->Observe(absl::ToDoubleSeconds(d));
}
void SchedulerMetrics::ObserveQueueTime(absl::Duration d) {
  queue_->Observe(absl::ToDoubleSeconds(d));
}
void SchedulerMetrics::AddPromptTokens(int n) { prompt_tokens_->Increment(n); }
void SchedulerMetrics::AddGenerationTokens(int n) { generation_tokens_->Increment(n); }
void SchedulerMetrics::AddPrefixCacheHitTokens(int n) { prefix_hits_->Increment(n); }
void SchedulerMetrics::CountRequest(const std::string& finish_reason,
                                    const std::string& code) {
  requests_->Add({{"finish_reason", finish_reason}, {"code", code}}).Increment();
}

}  // namespace llm
