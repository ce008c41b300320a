// File: worker/worker_metrics.cc
#include "worker/worker_metrics.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace llm {

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Create(
    const std::string& listen, int num_kv_blocks, int block_size) {
  std::unique_ptr<WorkerMetrics> m(new WorkerMetrics());
  // prometheus-cpp reports a failed bind by throwing; this is the one place
  // it is caught and turned into a status.
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  m->registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Registry& r = *m->registry_;
  // Steps of the 135M model on CPU take ~5 ms (one decode) to seconds (a
  // 2048-token prefill); buckets span that range.
  m->step_duration_ = &prometheus::BuildHistogram()
                           .Name("llm_worker_step_duration_seconds")
                           .Help("Wall time of one executed step plan")
                           .Register(r)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  m->batch_tokens_ = &prometheus::BuildHistogram()
                          .Name("llm_worker_batch_tokens")
                          .Help("Tokens computed in one step (prefill chunks + decodes)")
                          .Register(r)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                       1024, 2048, 4096, 8192});
  auto& steps = prometheus::BuildCounter()
                    .Name("llm_worker_steps_total")
                    .Help("Step plans received, by outcome")
                    .Register(r);
  m->steps_ = &steps.Add({{"outcome", "ok"}});
  m->step_errors_ = &steps.Add({{"outcome", "error"}});
  m->tokens_ = &prometheus::BuildCounter()
                    .Name("llm_worker_computed_tokens_total")
                    .Help("Tokens run through the model (prompt and generated)")
                    .Register(r)
                    .Add({});
  m->kv_blocks_total_ = &prometheus::BuildGauge()
                             .Name("llm_kv_cache_blocks_total")
                             .Help("Blocks in this worker's KV pool")
                             .Register(r)
                             .Add({{"block_size", absl::StrCat(block_size)}});
  m->kv_blocks_total_->Set(num_kv_blocks);
  m->sequences_ = &prometheus::BuildGauge()
                       .Name("llm_worker_sequences")
                       .Help("Sequences whose state the worker holds")
                       .Register(r)
                       .Add({});
  m->exposer_->RegisterCollectable(m->registry_);
  return m;
}

int WorkerMetrics::port() const {
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

void WorkerMetrics::RecordStep(absl::Duration duration, int batch_tokens,
                               bool ok, int num_sequences) {
  (ok ? steps_ : step_errors_)->Increment();
  if (!ok) return;
  step_duration_->Observe(absl::ToDoubleSeconds(duration));
  batch_tokens_->Observe(batch_tokens);
  tokens_->Increment(batch_tokens);
  sequences_->Set(num_sequences);
}

}  // namespace llm
