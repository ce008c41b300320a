// A prompt's greedy tokens must not depend on what else is in the batch:
// kernels reduce in a fixed order per row, and attention splits depend on
// the context length only.
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/generation_harness.h"

namespace llm {
namespace {

std::vector<int32_t> MixedPrompt(int len, int salt) {
  std::vector<int32_t> ids(len);
  uint32_t x = 12345u + salt * 2654435761u;
  for (int i = 0; i < len; ++i) {
    x = x * 1664525u + 1013904223u;
    ids[i] = 200 + static_cast<int32_t>((x >> 8) % 20000);
  }
  return ids;
}

TEST(BatchInvarianceTest, GreedyTokensIdenticalAloneAndInABatchOfSixteen) {
  WorkerOptions o;
  o.model_path = testing::RealModelPath();
  o.threads = 2;
  o.backend = "cpu";
  auto worker = LocalWorker::Create(o);
  if (!worker.ok()) GTEST_SKIP() << worker.status();
  const int lengths[16] = {1, 3, 7, 16, 17, 31, 33, 64, 90, 128, 5, 250, 12, 47, 300, 2};
  std::vector<testing::GenerationSpec> batch;
  for (int i = 0; i < 16; ++i) {
    testing::GenerationSpec s = testing::Greedy(MixedPrompt(lengths[i], i), 16);
    s.ignore_eos = true;
    batch.push_back(s);
  }
  // A small token budget forces chunked prefill mixed with decodes.
  EngineOptions chunked;
  chunked.max_batched_tokens = 96;
  const auto together = testing::Generate(**worker, batch, chunked);
  for (int i = 0; i < 16; ++i) {
    const auto alone = testing::Generate(**worker, {batch[i]});
    EXPECT_EQ(alone[0].tokens, together[i].tokens) << "prompt " << i
                                                   << " (length " << lengths[i] << ")";
  }
}

}  // namespace
}  // namespace llm
