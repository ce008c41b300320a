#include "tools/llm-bench/load_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "llm/v1/inference.grpc.pb.h"
#include "tools/llmctl/grpc_status_text.h"

namespace llm::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Sends one request and times it from `start` (its arrival; for the open
// loop that may be before a thread was free).
RequestTiming TimeOne(v1::Inference::Stub& stub, const BenchRequest& br, Clock::time_point start,
                      double timeout_s) {
  RequestTiming t;
  t.input_tokens = br.input_tokens;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  auto reader = stub.Generate(&ctx, br.request);
  v1::GenerateResponse resp;
  bool first = true;
  Clock::time_point last = start;
  while (reader->Read(&resp)) {
    const Clock::time_point now = Clock::now();
    const int k = resp.token_ids_size();
    if (k > 0) {
      if (first) {
        t.ttft_s = Seconds(now - start);
        first = false;
        // Extra tokens of a multi-token first message arrived at TTFT.
        for (int i = 1; i < k; ++i) t.itl_s.push_back(0);
      } else {
        const double gap = Seconds(now - last) / k;
        for (int i = 0; i < k; ++i) t.itl_s.push_back(gap);
      }
      last = now;
      t.output_tokens += k;
    }
    if (!resp.finish_reason().empty()) {
      if (resp.usage().prompt_tokens() > 0) t.input_tokens = resp.usage().prompt_tokens();
      t.cached_tokens += resp.usage().cached_tokens();
    }
  }
  const grpc::Status status = reader->Finish();
  t.e2e_s = Seconds(Clock::now() - start);
  t.ok = status.ok();
  if (!t.ok) t.error = tools::GrpcStatusText(status);
  return t;
}

}  // namespace

LoadResult RunLoad(const std::shared_ptr<grpc::Channel>& channel,
                   const std::vector<BenchRequest>& workload, const LoadOptions& o,
                   const std::function<void(int, int)>& progress) {
  LoadResult result;
  const int total = static_cast<int>(workload.size());
  result.requests.resize(total);
  auto stub = v1::Inference::NewStub(channel);

  // Arrival time of each request, relative to the start; all 0 in the
  // closed loop (a request goes as soon as a thread takes it).
  std::vector<double> arrival(total, 0.0);
  if (o.request_rate > 0) {
    std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ull);
    std::exponential_distribution<double> gap(o.request_rate);
    double t = 0;
    for (int i = 0; i < total; ++i) {
      arrival[i] = t;
      t += gap(rng);
    }
  }

  std::atomic<int> next{0};
  std::mutex progress_mu;
  int done = 0;
  const Clock::time_point t0 = Clock::now();
  auto worker = [&] {
    for (int i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
      const Clock::time_point due =
          t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrival[i]));
      Clock::time_point start = Clock::now();
      if (o.request_rate > 0) {
        std::this_thread::sleep_until(due);
        start = due;  // latency counts from arrival, as a user sees it
      }
      result.requests[i] = TimeOne(*stub, workload[i], start, o.timeout_s);
      std::lock_guard<std::mutex> lock(progress_mu);
      ++done;
      if (progress) progress(done, total);
    }
  };
  const int threads = std::max(1, std::min(o.concurrency, total));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  result.duration_s = Seconds(Clock::now() - t0);
  return result;
}

}  // namespace llm::bench
