// File: scheduler/scheduler_metrics.h
//
// SchedulerMetrics: the Prometheus metrics of llm-scheduler (docs/metrics.md
// lists and explains them), served in the text format on --metrics-listen.
// Latencies and token counts are recorded by the request streams as they
// happen; the gauges (running, waiting, KV blocks), the preemption counter
// and the speculative-decoding counters are refreshed from the engine loops
// at each scrape, through the `refresh` callback given at creation.
//
// Thread safety: thread-safe.
#ifndef LLM_SCHEDULER_SCHEDULER_METRICS_H_
#define LLM_SCHEDULER_SCHEDULER_METRICS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace llm {

// The state of all worker groups, summed, at one moment.
struct SchedulerGauges {
  int running = 0;
  int waiting = 0;
  int blocks_used = 0;
  int blocks_total = 0;
  int64_t preemptions = 0;  // cumulative
  int groups = 0;            // worker groups configured
  int groups_available = 0;  // of which taking requests now
  int64_t worker_failures = 0;  // steps that lost a worker, cumulative
  // Speculative decoding, cumulative, per draft source (EngineStats).
  struct Speculation {
    int64_t verifications = 0;  // sequence-steps that scored >= 1 draft
    int64_t proposed = 0;       // draft tokens scored
    int64_t accepted = 0;       // of which accepted
  };
  Speculation spec_ngram;
  Speculation spec_draft_model;
};

class SchedulerMetrics {
 public:
  // Serves /metrics on `listen` (HOST:PORT; port 0 picks one). Unavailable
  // when it cannot be bound. `refresh` is called at each scrape.
  static absl::StatusOr<std::unique_ptr<SchedulerMetrics>> Create(
      const std::string& listen, std::function<SchedulerGauges()> refresh);
  ~SchedulerMetrics();

  int port() const;

  void ObserveTimeToFirstToken(absl::Duration d);
  void ObserveInterTokenLatency(absl::Duration d);
  void ObserveEndToEnd(absl::Duration d);
  void ObserveQueueTime(absl::Duration d);
  void AddPromptTokens(int n);
  void AddGenerationTokens(int n);
  void AddPrefixCacheHitTokens(int n);
  // One request ended: finish_reason "stop", "length", "cancelled", "error",
  // or "rejected"; code the gRPC status code name it ended with ("OK" ...).
  void CountRequest(const std::string& finish_reason, const std::string& code);

 private:
  class RefreshingCollectable;
  SchedulerMetrics() = default;
  void Refresh();

  std::function<SchedulerGauges()> refresh_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<RefreshingCollectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Histogram* ttft_ = nullptr;
  prometheus::Histogram* itl_ = nullptr;
  prometheus::Histogram* e2e_ = nullptr;
  prometheus::Histogram* queue_ = nullptr;
  prometheus::Gauge* running_ = nullptr;
  prometheus::Gauge* waiting_ = nullptr;
  prometheus::Gauge* blocks_used_ = nullptr;
  prometheus::Gauge* blocks_total_ = nullptr;
  prometheus::Gauge* usage_ = nullptr;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Counter* prompt_tokens_ = nullptr;
  prometheus::Counter* generation_tokens_ = nullptr;
  prometheus::Counter* prefix_hits_ = nullptr;
  prometheus::Counter* preemptions_ = nullptr;
  prometheus::Gauge* groups_ = nullptr;
  prometheus::Gauge* groups_available_ = nullptr;
  prometheus::Counter* worker_failures_ = nullptr;
  // Speculative decoding counters of one draft source ("ngram",
  // "draft_model"), advanced at each scrape by what the engines added.
  struct SpecCounters {
    prometheus::Counter* verifications = nullptr;
    prometheus::Counter* proposed = nullptr;
    prometheus::Counter* accepted = nullptr;
    SchedulerGauges::Speculation seen;  // guarded by refresh_mu_
  };
  SpecCounters spec_ngram_;
  SpecCounters spec_draft_model_;
  absl::Mutex refresh_mu_;
  int64_t preemptions_seen_ = 0;  // guarded by refresh_mu_
  int64_t worker_failures_seen_ = 0;  // guarded by refresh_mu_
};

}  // namespace llm

#endif  // LLM_SCHEDULER_SCHEDULER_METRICS_H_
