// File: proto/step_plan_proto.cc
#include "proto/step_plan_proto.h"

#include <string>

namespace llm {
namespace {

namespace pb = ::llm::worker::v1;

template <typename T, typename Repeated>
std::vector<T> ToVector(const Repeated& r) {
  return std::vector<T>(r.begin(), r.end());
}

}  // namespace

void ToProto(const SamplingParams& p, pb::SamplingParams* out) {
  out->set_temperature(p.temperature);
  out->set_top_k(p.top_k);
  out->set_top_p(p.top_p);
  out->set_min_p(p.min_p);
  out->set_repetition_penalty(p.repetition_penalty);
  out->set_presence_penalty(p.presence_penalty);
  out->set_frequency_penalty(p.frequency_penalty);
  if (p.seed.has_value()) out->set_seed(*p.seed);
  out->set_logprobs(p.logprobs);
}

SamplingParams FromProto(const pb::SamplingParams& p) {
  SamplingParams out;
  out.temperature = p.temperature();
  out.top_k = p.top_k();
  out.top_p = p.top_p();
  out.min_p = p.min_p();
  out.repetition_penalty = p.repetition_penalty();
  out.presence_penalty = p.presence_penalty();
  out.frequency_penalty = p.frequency_penalty();
  if (p.has_seed()) out.seed = p.seed();
  out.logprobs = p.logprobs();
  return out;
}

void ToProto(const StepPlan& plan, pb::StepPlan* out) {
  out->Clear();
  out->set_step_id(plan.step_id);
  out->mutable_finished()->Add(plan.finished.begin(), plan.finished.end());
  for (const SequenceSpec& s : plan.new_sequences) {
    pb::SequenceSpec* o = out->add_new_sequences();
    o->set_seq_id(s.seq_id);
    o->mutable_prompt_tokens()->Add(s.prompt_tokens.begin(), s.prompt_tokens.end());
    o->mutable_output_tokens()->Add(s.output_tokens.begin(), s.output_tokens.end());
    ToProto(s.params, o->mutable_params());
    o->set_seed(s.seed);
    o->set_sample_index(s.sample_index);
    o->mutable_block_table()->Add(s.block_table.begin(), s.block_table.end());
    o->set_num_computed_tokens(s.num_computed_tokens);
  }
  for (const auto& [src, dst] : plan.block_copies) {
    pb::BlockCopy* o = out->add_block_copies();
    o->set_src(src);
    o->set_dst(dst);
  }
  for (const ScheduledChunk& c : plan.chunks) {
    pb::ScheduledChunk* o = out->add_chunks();
    o->set_seq_id(c.seq_id);
    o->set_num_tokens(c.num_tokens);
    o->mutable_new_blocks()->Add(c.new_blocks.begin(), c.new_blocks.end());
    o->set_sample(c.sample);
    for (const auto& [index, block] : c.replaced_blocks) {
      pb::BlockReplacement* r = o->add_replaced_blocks();
      r->set_index(index);
      r->set_block(block);
    }
    o->set_num_speculative_tokens(c.num_speculative_tokens);
    o->mutable_draft_tokens()->Add(c.draft_tokens.begin(), c.draft_tokens.end());
    o->set_draft_catch_up(c.draft_catch_up);
  }
}

StepPlan FromProto(const pb::StepPlan& plan) {
  StepPlan out;
  out.step_id = plan.step_id();
  out.finished = ToVector<SeqId>(plan.finished());
  out.new_sequences.reserve(plan.new_sequences_size());
  for (const pb::SequenceSpec& s : plan.new_sequences()) {
    SequenceSpec o;
    o.seq_id = s.seq_id();
    o.prompt_tokens = ToVector<int32_t>(s.prompt_tokens());
    o.output_tokens = ToVector<int32_t>(s.output_tokens());
    o.params = FromProto(s.params());
    o.seed = s.seed();
    o.sample_index = s.sample_index();
    o.block_table = ToVector<int32_t>(s.block_table());
    o.num_computed_tokens = s.num_computed_tokens();
    out.new_sequences.push_back(std::move(o));
  }
  for (const pb::BlockCopy& c : plan.block_copies()) {
    out.block_copies.emplace_back(c.src(), c.dst());
  }
  out.chunks.reserve(plan.chunks_size());
  for (const pb::ScheduledChunk& c : plan.chunks()) {
    ScheduledChunk o;
    o.seq_id = c.seq_id();
    o.num_tokens = c.num_tokens();
    o.new_blocks = ToVector<int32_t>(c.new_blocks());
    o.sample = c.sample();
    for (const pb::BlockReplacement& r : c.replaced_blocks()) {
      o.replaced_blocks.emplace_back(r.index(), r.block());
    }
    o.num_speculative_tokens = c.num_speculative_tokens();
    o.draft_tokens = ToVector<int32_t>(c.draft_tokens());
    o.draft_catch_up = c.draft_catch_up();
    out.chunks.push_back(std::move(o));
  }
  return out;
}

void ToProto(const StepResult& result, pb::StepResult* out) {
  out->Clear();
  out->set_step_id(result.step_id);
  for (const SequenceResult& r : result.results) {
    pb::SequenceResult* o = out->add_results();
    o->set_seq_id(r.seq_id);
    o->set_num_proposed(r.num_proposed);
    o->set_num_accepted(r.num_accepted);
    for (const SampledToken& t : r.tokens) {
      pb::SampledToken* ot = o->add_tokens();
      ot->set_token(t.token);
      ot->set_logprob(t.logprob);
      for (const TokenLogprob& alt : t.top) {
        pb::TokenLogprob* oa = ot->add_top();
        oa->set_token(alt.token);
        oa->set_logprob(alt.logprob);
      }
    }
  }
}

StepResult FromProto(const pb::StepResult& result) {
  StepResult out;
  out.step_id = result.step_id();
  out.results.reserve(result.results_size());
  for (const pb::SequenceResult& r : result.results()) {
    SequenceResult o;
    o.seq_id = r.seq_id();
    o.num_proposed = r.num_proposed();
    o.num_accepted = r.num_accepted();
    o.tokens.reserve(r.tokens_size());
    for (const pb::SampledToken& t : r.tokens()) {
      SampledToken ot;
      ot.token = t.token();
      ot.logprob = t.logprob();
      for (const pb::TokenLogprob& alt : t.top()) {
        ot.top.push_back(TokenLogprob{alt.token(), alt.logprob()});
      }
      o.tokens.push_back(std::move(ot));
    }
    out.results.push_back(std::move(o));
  }
  return out;
}

absl::Status StatusFromProto(const pb::StepResult& result) {
  if (!result.has_status() || result.status().code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(result.status().code()),
                      result.status().message());
}

void StatusToProto(const absl::Status& status, pb::StepResult* out) {
  if (status.ok()) {
    out->clear_status();
    return;
  }
  out->mutable_status()->set_code(static_cast<int>(status.code()));
  out->mutable_status()->set_message(std::string(status.message()));
}

void ToProto(const WorkerDescription& d, pb::DescribeResponse* out) {
  out->set_backend(d.backend);
  out->set_num_kv_blocks(d.num_kv_blocks);
  out->set_block_size(d.block_size);
  out->set_context_length(d.context_length);
  out->set_vocab_size(d.vocab_size);
  out->set_has_draft_model(d.has_draft_model);
}

WorkerDescription FromProto(const pb::DescribeResponse& d) {
  WorkerDescription out;
  out.backend = d.backend();
  out.num_kv_blocks = d.num_kv_blocks();
  out.block_size = d.block_size();
  out.context_length = d.context_length();
  out.vocab_size = d.vocab_size();
  out.has_draft_model = d.has_draft_model();
  return out;
}

}  // namespace llm
