// Async scheduling on the real model: plans built one step ahead (the
// in-process channel runs a submitted plan only when it is awaited, so each
// plan exists before its predecessor's result) must give the synchronous
// engine's tokens: greedy and seeded sampling, parallel samples forked from
// a prompt block that the parent's planned-ahead decode writes into,
// preemption in a tiny KV pool, prefix-cache hits across requests, EOS and
// stop tokens. KV mistakes (a block reused too early, a copy taken before
// its source was written) change logits, hence tokens.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "tests/worker/generation_harness.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace llm {
namespace {

using Key = std::pair<std::string, int>;

struct Outcome {
  std::map<Key, std::vector<int32_t>> tokens;
  std::map<Key, FinishReason> finish;
  EngineStats stats;
};

std::vector<int32_t> MixedPrompt(int len, int salt) {
  std::vector<int32_t> ids(len);
  uint32_t x = 777u + salt * 2654435761u;
  for (int i = 0; i < len; ++i) {
    x = x * 1664525u + 1013904223u;
    ids[i] = 200 + static_cast<int32_t>((x >> 8) % 20000);
  }
  return ids;
}

GenerationRequest Request(const std::string& id, std::vector<int32_t> prompt,
                          int max_tokens) {
  GenerationRequest r;
  r.request_id = id;
  r.prompt_tokens = std::move(prompt);
  r.params.temperature = 0.0f;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  return r;
}

std::unique_ptr<LocalWorker> MakeWorker(int64_t kv_cache_bytes = 0) {
  WorkerOptions o;
  o.model_path = testing::RealModelPath();
  o.backend = "cpu";
  o.threads = 2;
  o.kv_cache_bytes = kv_cache_bytes;
  absl::StatusOr<std::unique_ptr<LocalWorker>> w = LocalWorker::Create(o);
  if (!w.ok()) return nullptr;
  return std::move(*w);
}

// Each batch is added once the previous one has finished, on one engine
// (so later batches can hit the prefix cache of earlier ones).
Outcome RunBatches(LocalWorker& worker, EngineOptions options, bool async,
            const std::vector<std::vector<GenerationRequest>>& batches) {
  InProcessWorkerChannel channel(worker);
  options.async_scheduling = async;
  auto engine = Engine::Create(options, channel);
  EXPECT_TRUE(engine.ok()) << engine.status();
  Outcome o;
  for (const auto& batch : batches) {
    for (const GenerationRequest& r : batch) {
      absl::Status s = (*engine)->Add(r, [&o](const SequenceUpdate& u) {
        const Key key{u.request_id, u.sample_index};
        for (const SampledToken& t : u.new_tokens) o.tokens[key].push_back(t.token);
        if (u.finish_reason != FinishReason::kNone) o.finish[key] = u.finish_reason;
      });
      EXPECT_TRUE(s.ok()) << s;
    }
    while ((*engine)->HasWork()) {
      absl::Status s = (*engine)->Step();
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) break;
    }
  }
  EXPECT_EQ((*engine)->blocks().num_used(), 0);
  EXPECT_TRUE((*engine)->blocks().CheckInvariants().ok());
  o.stats = (*engine)->stats();
  return o;
}

void ExpectSame(const Outcome& sync, const Outcome& async) {
  EXPECT_EQ(async.tokens, sync.tokens);
  EXPECT_EQ(async.finish, sync.finish);
  EXPECT_EQ(async.stats.generated_tokens, sync.stats.generated_tokens);
}

TEST(AsyncSchedulingModelTest, MixedBatchWithStopsMatchesSynchronous) {
  auto worker = MakeWorker();
  if (worker == nullptr) GTEST_SKIP() << "model not available";
  EngineOptions options;
  options.max_batched_tokens = 64;  // chunked prefills mixed with decodes
  const int lengths[] = {1, 9, 16, 17, 40, 75, 130};
  const int max_tokens[] = {1, 14, 20, 3, 24, 10, 16};
  std::vector<GenerationRequest> batch;
  for (int i = 0; i < 7; ++i) {
    batch.push_back(Request("m" + std::to_string(i), MixedPrompt(lengths[i], i),
                            max_tokens[i]));
  }
  // Stops that bite mid-generation: the tokens the model produces at
  // chosen positions become one request's stop id and the engine's EOS.
  const Outcome plain = RunBatches(*worker, options, false, {batch});
  const std::vector<int32_t>& m4 = plain.tokens.at(Key("m4", 0));
  const std::vector<int32_t>& m6 = plain.tokens.at(Key("m6", 0));
  ASSERT_GE(m4.size(), 6u);
  ASSERT_GE(m6.size(), 8u);
  batch[4].stop_token_ids = {m4[5]};
  batch[6].ignore_eos = false;
  options.eog_token_ids = {m6[7]};
  const Outcome sync = RunBatches(*worker, options, false, {batch});
  const Outcome async = RunBatches(*worker, options, true, {batch});
  ExpectSame(sync, async);
  EXPECT_EQ(sync.finish.at(Key("m6", 0)), FinishReason::kStop);
  EXPECT_LE(sync.tokens.at(Key("m4", 0)).size(), 6u);
}

TEST(AsyncSchedulingModelTest, ParallelSamplesMatchSynchronousAtEveryPromptAlignment) {
  auto worker = MakeWorker();
  if (worker == nullptr) GTEST_SKIP() << "model not available";
  // Sample 0's first decode (position num_prompt) is planned before its
  // first token returns, so it lands in the last prompt block before the
  // other samples fork from it: prompts ending inside a block, on its last
  // slot, and on a block boundary.
  std::vector<GenerationRequest> batch;
  for (int len : {40, 47, 48}) {
    GenerationRequest r = Request("n" + std::to_string(len), MixedPrompt(len, len), 12);
    r.n = 4;
    r.params.temperature = 0.9f;
    r.params.seed = 1234 + len;
    batch.push_back(r);
  }
  EngineOptions options;
  const Outcome sync = RunBatches(*worker, options, false, {batch});
  const Outcome async = RunBatches(*worker, options, true, {batch});
  ExpectSame(sync, async);
  EXPECT_GT(async.stats.block_copies, 0);
  // The samples differ from each other (seeded per sample, not copies).
  EXPECT_NE(sync.tokens.at(Key("n40", 0)), sync.tokens.at(Key("n40", 1)));
}

TEST(AsyncSchedulingModelTest, PreemptionInATinyPoolMatchesSynchronous) {
  // 12 blocks of 16 tokens (SmolLM2-135M: 30 layers x 3 KV heads x 64 x
  // fp16 K and V = 368,640 bytes a block) for four 40 + 40-token requests
  // that need 20: sequences are preempted, some with a sample in flight.
  auto worker = MakeWorker(int64_t{12} * 368640);
  if (worker == nullptr) GTEST_SKIP() << "model not available";
  ASSERT_EQ(worker->kv_shape().num_blocks, 12);
  std::vector<GenerationRequest> batch;
  for (int i = 0; i < 4; ++i) {
    batch.push_back(Request("p" + std::to_string(i), MixedPrompt(40, 50 + i), 40));
  }
  EngineOptions options;
  options.admission_watermark = 0.0;
  const Outcome sync = RunBatches(*worker, options, false, {batch});
  const Outcome async = RunBatches(*worker, options, true, {batch});
  EXPECT_GT(async.stats.preemptions, 0);
  ExpectSame(sync, async);
}

TEST(AsyncSchedulingModelTest, PrefixCacheHitsAcrossRequestsMatchSynchronous) {
  auto worker = MakeWorker();
  if (worker == nullptr) GTEST_SKIP() << "model not available";
  const std::vector<int32_t> shared = MixedPrompt(70, 99);
  auto extended = [&shared](int extra, int salt) {
    std::vector<int32_t> p = shared;
    const std::vector<int32_t> tail = MixedPrompt(extra, salt);
    p.insert(p.end(), tail.begin(), tail.end());
    return p;
  };
  const std::vector<std::vector<GenerationRequest>> batches = {
      {Request("first", shared, 10)},
      {Request("again", shared, 10), Request("longer", extended(25, 1), 10)},
      {Request("third", extended(3, 2), 10)},
  };
  EngineOptions options;
  const Outcome sync = RunBatches(*worker, options, false, batches);
  const Outcome async = RunBatches(*worker, options, true, batches);
  EXPECT_GT(async.stats.prefix_cache_hit_tokens, 0);
  EXPECT_EQ(async.stats.prefix_cache_hit_tokens, sync.stats.prefix_cache_hit_tokens);
  ExpectSame(sync, async);
  EXPECT_EQ(sync.tokens.at(Key("first", 0)), sync.tokens.at(Key("again", 0)));
}

}  // namespace
}  // namespace llm
