// File: worker/worker_metrics.h
//
// WorkerMetrics: the Prometheus metrics of one llm-worker process, served in
// the text format on --metrics-listen (docs/metrics.md lists them): step
// duration and batch tokens (histograms), steps and failed steps (counters),
// KV pool capacity and live sequences (gauges).
//
// Thread safety: the Record* methods are thread-safe (prometheus-cpp metrics
// are atomic).
#ifndef LLM_WORKER_WORKER_METRICS_H_
#define LLM_WORKER_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace llm {

class WorkerMetrics {
 public:
  // Serves /metrics on `listen` (HOST:PORT; port 0 picks a free one).
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Create(
      const std::string& listen, int num_kv_blocks, int block_size);

  // The port actually bound (useful with port 0).
  int port() const;

  // One executed plan: its wall time, the tokens it computed, whether it
  // failed, and the sequences the worker holds afterwards.
  void RecordStep(absl::Duration duration, int batch_tokens, bool ok,
                  int num_sequences);

 private:
  WorkerMetrics() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram* step_duration_ = nullptr;
  prometheus::Histogram* batch_tokens_ = nullptr;
  prometheus::Counter* steps_ = nullptr;
  prometheus::Counter* step_errors_ = nullptr;
  prometheus::Counter* tokens_ = nullptr;
  prometheus::Gauge* kv_blocks_total_ = nullptr;
  prometheus::Gauge* sequences_ = nullptr;
};

}  // namespace llm

#endif  // LLM_WORKER_WORKER_METRICS_H_
