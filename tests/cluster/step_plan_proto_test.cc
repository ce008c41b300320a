// proto/step_plan_proto: every field of the step contract survives the trip
// through worker.proto and the wire, so the gRPC channel and the in-process
// channel carry the same plans and results.
#include "proto/step_plan_proto.h"

#include <string>

#include "gtest/gtest.h"

namespace llm {
namespace {

StepPlan FullPlan() {
  StepPlan p;
  p.step_id = 123456789012ull;
  p.finished = {7, 9, (1ull << 40) + 3};
  SequenceSpec s;
  s.seq_id = 11;
  s.prompt_tokens = {1, 2, 3};
  s.output_tokens = {4, 5};
  s.params.temperature = 0.7f;
  s.params.top_k = 40;
  s.params.top_p = 0.9f;
  s.params.min_p = 0.05f;
  s.params.repetition_penalty = 1.1f;
  s.params.presence_penalty = 0.5f;
  s.params.frequency_penalty = -0.25f;
  s.params.seed = 99;
  s.params.logprobs = 3;
  s.seed = 1234567;
  s.sample_index = 2;
  s.block_table = {5, 6};
  s.num_computed_tokens = 16;
  p.new_sequences.push_back(s);
  SequenceSpec unseeded;
  unseeded.seq_id = 12;
  unseeded.prompt_tokens = {8};
  p.new_sequences.push_back(unseeded);
  p.block_copies = {{1, 2}, {3, 4}};
  ScheduledChunk c;
  c.seq_id = 11;
  c.num_tokens = 3;
  c.replaced_blocks = {{0, 17}};
  c.new_blocks = {20, 21};
  c.sample = true;
  c.num_speculative_tokens = 2;
  c.draft_tokens = {30, 31};
  c.draft_catch_up = true;
  p.chunks.push_back(c);
  return p;
}

template <typename Proto>
Proto OverTheWire(const Proto& in) {
  std::string bytes;
  EXPECT_TRUE(in.SerializeToString(&bytes));
  Proto out;
  EXPECT_TRUE(out.ParseFromString(bytes));
  return out;
}

void ExpectParamsEqual(const SamplingParams& a, const SamplingParams& b) {
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_EQ(a.top_p, b.top_p);
  EXPECT_EQ(a.min_p, b.min_p);
  EXPECT_EQ(a.repetition_penalty, b.repetition_penalty);
  EXPECT_EQ(a.presence_penalty, b.presence_penalty);
  EXPECT_EQ(a.frequency_penalty, b.frequency_penalty);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.logprobs, b.logprobs);
}

TEST(StepPlanProtoTest, PlanRoundTripKeepsEveryField) {
  const StepPlan in = FullPlan();
  worker::v1::StepPlan proto;
  ToProto(in, &proto);
  const StepPlan out = FromProto(OverTheWire(proto));
  EXPECT_EQ(out.step_id, in.step_id);
  EXPECT_EQ(out.finished, in.finished);
  ASSERT_EQ(out.new_sequences.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const SequenceSpec& a = in.new_sequences[i];
    const SequenceSpec& b = out.new_sequences[i];
    EXPECT_EQ(b.seq_id, a.seq_id);
    EXPECT_EQ(b.prompt_tokens, a.prompt_tokens);
    EXPECT_EQ(b.output_tokens, a.output_tokens);
    ExpectParamsEqual(b.params, a.params);
    EXPECT_EQ(b.seed, a.seed);
    EXPECT_EQ(b.sample_index, a.sample_index);
    EXPECT_EQ(b.block_table, a.block_table);
    EXPECT_EQ(b.num_computed_tokens, a.num_computed_tokens);
  }
  EXPECT_FALSE(out.new_sequences[1].params.seed.has_value());
  EXPECT_EQ(out.block_copies, in.block_copies);
  ASSERT_EQ(out.chunks.size(), 1u);
  EXPECT_EQ(out.chunks[0].seq_id, 11u);
  EXPECT_EQ(out.chunks[0].num_tokens, 3);
  EXPECT_EQ(out.chunks[0].replaced_blocks, in.chunks[0].replaced_blocks);
  EXPECT_EQ(out.chunks[0].new_blocks, in.chunks[0].new_blocks);
  EXPECT_TRUE(out.chunks[0].sample);
  EXPECT_EQ(out.chunks[0].num_speculative_tokens, 2);
  EXPECT_EQ(out.chunks[0].draft_tokens, in.chunks[0].draft_tokens);
  EXPECT_TRUE(out.chunks[0].draft_catch_up);
}

TEST(StepPlanProtoTest, ResultRoundTripKeepsTokensLogprobsAndSpeculation) {
  StepResult in;
  in.step_id = 42;
  SequenceResult r;
  r.seq_id = 11;
  r.tokens.push_back(SampledToken{100, -0.5f, {{100, -0.5f}, {7, -1.25f}}});
  r.tokens.push_back(SampledToken{101, -2.0f, {}});
  r.num_proposed = 3;
  r.num_accepted = 1;
  in.results.push_back(r);
  worker::v1::StepResult proto;
  ToProto(in, &proto);
  const worker::v1::StepResult wire = OverTheWire(proto);
  EXPECT_TRUE(StatusFromProto(wire).ok());
  const StepResult out = FromProto(wire);
  EXPECT_EQ(out.step_id, 42u);
  ASSERT_EQ(out.results.size(), 1u);
  EXPECT_EQ(out.results[0].seq_id, 11u);
  EXPECT_EQ(out.results[0].num_proposed, 3);
  EXPECT_EQ(out.results[0].num_accepted, 1);
  ASSERT_EQ(out.results[0].tokens.size(), 2u);
  EXPECT_EQ(out.results[0].tokens[0].token, 100);
  EXPECT_EQ(out.results[0].tokens[0].logprob, -0.5f);
  ASSERT_EQ(out.results[0].tokens[0].top.size(), 2u);
  EXPECT_EQ(out.results[0].tokens[0].top[1].token, 7);
  EXPECT_EQ(out.results[0].tokens[0].top[1].logprob, -1.25f);
  EXPECT_EQ(out.results[0].tokens[1].token, 101);
}

TEST(StepPlanProtoTest, ErrorStatusTravelsInTheResult) {
  worker::v1::StepResult proto;
  StatusToProto(absl::InvalidArgumentError("chunk for unknown sequence 9"), &proto);
  const absl::Status s = StatusFromProto(OverTheWire(proto));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "chunk for unknown sequence 9");
  StatusToProto(absl::OkStatus(), &proto);
  EXPECT_TRUE(StatusFromProto(proto).ok());
}

TEST(StepPlanProtoTest, DescriptionRoundTrip) {
  WorkerDescription in{"cpu(avx512, 2 threads)", 91, 16, 8192, 49152};
  worker::v1::DescribeResponse proto;
  ToProto(in, &proto);
  const WorkerDescription out = FromProto(OverTheWire(proto));
  EXPECT_EQ(out.backend, in.backend);
  EXPECT_EQ(out.num_kv_blocks, 91);
  EXPECT_EQ(out.block_size, 16);
  EXPECT_EQ(out.context_length, 8192);
  EXPECT_EQ(out.vocab_size, 49152);
}

}  // namespace
}  // namespace llm
