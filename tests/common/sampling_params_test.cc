// Tests for SamplingParams::Validate (common/sampling_params.h).
#include "common/sampling_params.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::HasSubstr;

std::string ValidateMessage(void (*mutate)(SamplingParams&)) {
  SamplingParams p;
  mutate(p);
  const absl::Status s = p.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

TEST(SamplingParamsTest, DefaultsAreValid) { EXPECT_TRUE(SamplingParams().Validate().ok()); }

TEST(SamplingParamsTest, EachBadFieldIsNamedWithItsRange) {
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.temperature = -1; }),
            "temperature must be in [0, 100], got -1");
  EXPECT_THAT(ValidateMessage([](SamplingParams& p) { p.temperature = NAN; }),
              HasSubstr("temperature must be in [0, 100]"));
  EXPECT_THAT(ValidateMessage([](SamplingParams& p) { p.temperature = 101; }),
              HasSubstr("temperature"));
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.top_k = -2; }),
            "top_k must be >= -1 (<= 0 disables), got -2");
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.top_p = 0; }),
            "top_p must be in (0, 1], got 0");
  EXPECT_THAT(ValidateMessage([](SamplingParams& p) { p.top_p = NAN; }), HasSubstr("top_p"));
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.min_p = 1.5f; }),
            "min_p must be in [0, 1], got 1.5");
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.repetition_penalty = 0; }),
            "repetition_penalty must be in (0, 10], got 0");
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.presence_penalty = 2.5f; }),
            "presence_penalty must be in [-2, 2], got 2.5");
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.frequency_penalty = -3; }),
            "frequency_penalty must be in [-2, 2], got -3");
  EXPECT_EQ(ValidateMessage([](SamplingParams& p) { p.logprobs = 21; }),
            "logprobs must be in [0, 20], got 21");
}

TEST(SamplingParamsTest, BoundaryValuesAreAccepted) {
  SamplingParams p;
  p.temperature = 0;
  p.top_k = -1;
  p.top_p = 1;
  p.min_p = 1;
  p.repetition_penalty = 10;
  p.presence_penalty = -2;
  p.frequency_penalty = 2;
  p.logprobs = 20;
  EXPECT_TRUE(p.Validate().ok());
  p.temperature = 100;
  EXPECT_TRUE(p.Validate().ok());
}

}  // namespace
}  // namespace llm
