// The model against llama.cpp on the same GGUF file. Fixtures:
// tests/fixtures/model_golden.jsonl, made by scripts/golden/make_model_goldens.py
// with llama-cpp-python (version in model_golden_meta.json). Prompt ids come
// from the fixture, so this isolates the forward pass from the tokenizer
// (tests/common/tokenizer_test.cc checks that separately).
//
// Why tolerances and not bit equality (measured, see docs/correctness.md):
// llama.cpp quantises activations to Q8_1/Q8_0 (we do too, byte for byte)
// but its non-flash CPU attention rounds Q and the softmax row to fp16,
// while our FlashAttention-style kernel keeps them in f32. This 135M Q4_1
// model is so sensitive that llama.cpp's own flash and non-flash paths move
// relative top-10 logits by up to 0.39 and agree on only 19 of these 48
// greedy 32-token continuations. So the checks are: (1) top-10 overlap >= 8
// everywhere; (2) relative logits within kLogitTolerance; (3) top-1 equal,
// except where llama.cpp itself has a near-tie (margin < kNearTie) and we
// pick its runner-up; (4) every greedy divergence happens at a step where
// llama.cpp's top-1/top-2 margin is below kNearTie. A real bug (wrong RoPE
// pairing, a missing norm, a bad kernel) moves logits by whole units and
// diverges at confident steps, failing (2)-(4).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/worker/generation_harness.h"

namespace llm {
namespace {

// Largest |relative logit| difference over llama.cpp's top-10 that we accept;
// measured max over the 48 prompts: 0.49 (llama.cpp flash vs non-flash: 0.39).
constexpr double kLogitTolerance = 0.75;
// A llama.cpp top-1/top-2 margin below this is a near-tie that rounding may
// flip; all observed divergences sit at margins <= 0.35.
constexpr double kNearTie = 0.5;

struct Golden {
  std::string name;
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;
  std::vector<std::pair<int32_t, float>> top;  // final prompt position
  std::vector<float> margins;                  // top1 - top2 per greedy step
};

std::vector<Golden> LoadGoldens() {
  std::ifstream in(std::string(LLM_SOURCE_DIR) + "/tests/fixtures/model_golden.jsonl");
  std::vector<Golden> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    Golden g;
    g.name = j.value("name", "");
    g.prompt = j["prompt_token_ids"].get<std::vector<int32_t>>();
    g.greedy = j["greedy_token_ids"].get<std::vector<int32_t>>();
    for (const auto& p : j["top_logits"]) {
      g.top.emplace_back(p[0].get<int32_t>(), p[1].get<float>());
    }
    if (j.contains("step_margins")) {
      g.margins = j["step_margins"].get<std::vector<float>>();
    }
    out.push_back(std::move(g));
  }
  return out;
}

class ModelGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    WorkerOptions o;
    o.model_path = testing::RealModelPath();
    o.threads = 2;
    o.backend = "cpu";
    auto w = LocalWorker::Create(o);
    if (w.ok()) worker_ = std::move(*w).release();
    goldens_ = new std::vector<Golden>(LoadGoldens());
  }
  static void TearDownTestSuite() {
    delete worker_;
    delete goldens_;
    worker_ = nullptr;
    goldens_ = nullptr;
  }
  void SetUp() override {
    if (worker_ == nullptr) GTEST_SKIP() << "model not found: " << testing::RealModelPath();
    if (goldens_->empty()) GTEST_SKIP() << "no fixture tests/fixtures/model_golden.jsonl";
  }
  static LocalWorker* worker_;
  static std::vector<Golden>* goldens_;
};
LocalWorker* ModelGoldenTest::worker_ = nullptr;
std::vector<Golden>* ModelGoldenTest::goldens_ = nullptr;

TEST_F(ModelGoldenTest, FixtureHasAtLeastThirtyPrompts) {
  EXPECT_GE(goldens_->size(), 30u);
}

TEST_F(ModelGoldenTest, TopLogitsAgreeWithLlamaCppOnEveryPrompt) {
  std::vector<testing::GenerationSpec> specs;
  for (const Golden& g : *goldens_) {
    testing::GenerationSpec s = testing::Greedy(g.prompt, 1);
    s.params.logprobs = 20;
    specs.push_back(s);
  }
  const auto results = testing::Generate(*worker_, specs);
  double worst_delta = 0;
  int exact_top1 = 0;
  for (size_t i = 0; i < goldens_->size(); ++i) {
    const Golden& g = (*goldens_)[i];
    ASSERT_EQ(results[i].sampled.size(), 1u) << g.name;
    const auto& ours = results[i].sampled[0].top;
    ASSERT_GE(ours.size(), 10u);
    const double margin = g.top[0].second - g.top[1].second;
    if (ours[0].token == g.top[0].first) {
      ++exact_top1;
    } else {
      EXPECT_LT(margin, kNearTie) << g.name << ": top-1 differs at a confident step";
      EXPECT_EQ(ours[0].token, g.top[1].first) << g.name << ": top-1 is not llama.cpp's runner-up";
    }
    std::set<int32_t> theirs10, ours10;
    for (int k = 0; k < 10; ++k) {
      theirs10.insert(g.top[k].first);
      ours10.insert(ours[k].token);
    }
    int overlap = 0;
    for (int32_t t : ours10) overlap += theirs10.count(t);
    EXPECT_GE(overlap, 8) << g.name << ": top-10 overlap " << overlap;
    // Logits relative to llama.cpp's top-1 are comparable with our logprobs
    // relative to the same token (log-softmax shifts every logit equally).
    const TokenLogprob* anchor = nullptr;
    for (const auto& o : ours) {
      if (o.token == g.top[0].first) anchor = &o;
    }
    ASSERT_NE(anchor, nullptr) << g.name;
    double prompt_delta = 0;
    for (int k = 0; k < 10; ++k) {
      for (const auto& o : ours) {
        if (o.token != g.top[k].first) continue;
        prompt_delta = std::max(prompt_delta,
                                std::abs(static_cast<double>(o.logprob - anchor->logprob) -
                                         (g.top[k].second - g.top[0].second)));
      }
    }
    EXPECT_LT(prompt_delta, kLogitTolerance) << g.name;
    worst_delta = std::max(worst_delta, prompt_delta);
  }
  std::printf("top-1 identical on %d / %zu prompts; max |delta relative logit| %.4f\n",
              exact_top1, goldens_->size(), worst_delta);
}

TEST_F(ModelGoldenTest, GreedyContinuationsDivergeOnlyAtNearTies) {
  std::vector<testing::GenerationSpec> specs;
  for (const Golden& g : *goldens_) specs.push_back(testing::Greedy(g.prompt, 32));
  const auto results = testing::Generate(*worker_, specs);
  int matched = 0;
  for (size_t i = 0; i < goldens_->size(); ++i) {
    const Golden& g = (*goldens_)[i];
    const size_t n = std::min<size_t>(32, g.greedy.size());
    const std::vector<int32_t>& ours = results[i].tokens;
    size_t same = 0;
    while (same < n && same < ours.size() && ours[same] == g.greedy[same]) ++same;
    if (same == n) {
      ++matched;
      continue;
    }
    ASSERT_LT(same, g.margins.size()) << g.name;
    const float margin = g.margins[same];
    std::printf("diverges: %-22s at token %2zu (llama.cpp top1-top2 margin %.4f)\n",
                g.name.c_str(), same, margin);
    EXPECT_LT(margin, kNearTie) << g.name << " diverges at a confident step " << same;
  }
  std::printf("greedy 32-token match: %d / %zu (llama.cpp flash vs non-flash: 19 / 48)\n",
              matched, goldens_->size());
  // Measured 24 / 48. Far below means something broke even if each
  // divergence happens to sit at a near-tie.
  EXPECT_GE(matched * 10, static_cast<int>(goldens_->size()) * 4);
}

}  // namespace
}  // namespace llm
