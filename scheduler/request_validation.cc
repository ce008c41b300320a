// File: scheduler/request_validation.cc
#include "scheduler/request_validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace llm {
namespace {

absl::Status Prefixed(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

absl::StatusOr<std::vector<int32_t>> EncodeChat(const v1::ChatMessages& chat,
                                                const ModelFacts& model) {
  if (!model.chat_family.has_value()) {
    return absl::InvalidArgumentError(
        "chat is not supported: the model has no known chat template");
  }
  if (chat.messages().empty()) {
    return absl::InvalidArgumentError("chat.messages is empty");
  }
  std::vector<ChatMessage> messages;
  for (const v1::ChatMessage& m : chat.messages()) {
    messages.push_back(ChatMessage{m.role(), m.content()});
  }
  absl::StatusOr<std::string> text =
      RenderChat(*model.chat_family, messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return Prefixed(text.status(), "chat.");
  return model.tokenizer->Encode(*text, /*add_special=*/true, /*parse_special=*/true);
}

absl::StatusOr<std::vector<int32_t>> EncodeText(const std::string& text,
                                                const ModelFacts& model) {
  if (text.empty()) return absl::InvalidArgumentError("prompt.text is empty");
  return model.tokenizer->Encode(text, /*add_special=*/true, /*parse_special=*/false);
}

absl::Status CheckIds(const google::protobuf::RepeatedField<int32_t>& ids,
                      absl::string_view field, int vocab_size) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s[%d] = %d is out of range [0, %d)", field, i, ids[i], vocab_size));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SamplingParams> ToSamplingParams(const v1::SamplingParams& p) {
  SamplingParams out;
  if (p.has_temperature()) out.temperature = p.temperature();
  out.top_k = p.top_k();
  if (p.has_top_p()) out.top_p = p.top_p();
  out.min_p = p.min_p();
  if (p.has_repetition_penalty()) out.repetition_penalty = p.repetition_penalty();
  out.presence_penalty = p.presence_penalty();
  out.frequency_penalty = p.frequency_penalty();
  if (p.has_seed()) out.seed = p.seed();
  out.logprobs = p.logprobs();
  if (absl::Status s = out.Validate(); !s.ok()) return Prefixed(s, "sampling.");
  return out;
}

}  // namespace

absl::StatusOr<PreparedGenerate> PrepareGenerate(const v1::GenerateRequest& r,
                                                 const ModelFacts& model) {
  if (r.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("request_id is longer than %d bytes", kMaxRequestIdBytes));
  }
  PreparedGenerate out;
  GenerationRequest& g = out.request;
  switch (r.prompt_case()) {
    case v1::GenerateRequest::kText: {
      absl::StatusOr<std::vector<int32_t>> ids = EncodeText(r.text(), model);
      if (!ids.ok()) return ids.status();
      g.prompt_tokens = std::move(*ids);
      break;
    }
    case v1::GenerateRequest::kTokenIds:
      if (r.token_ids().ids().empty()) {
        return absl::InvalidArgumentError("prompt.token_ids is empty");
      }
      if (absl::Status s = CheckIds(r.token_ids().ids(), "prompt.token_ids", model.vocab_size);
          !s.ok()) {
        return s;
      }
      g.prompt_tokens.assign(r.token_ids().ids().begin(), r.token_ids().ids().end());
      break;
    case v1::GenerateRequest::kChat: {
      absl::StatusOr<std::vector<int32_t>> ids = EncodeChat(r.chat(), model);
      if (!ids.ok()) return ids.status();
      g.prompt_tokens = std::move(*ids);
      break;
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      return absl::InvalidArgumentError(
          "prompt is missing: set one of text, token_ids, chat");
  }
  if (g.prompt_tokens.empty()) {
    return absl::InvalidArgumentError("prompt is empty after tokenization");
  }
  const int prompt_len = static_cast<int>(g.prompt_tokens.size());
  if (prompt_len >= model.context_length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt is %d tokens, which leaves no room in the context of %d tokens",
        prompt_len, model.context_length));
  }

  absl::StatusOr<SamplingParams> params = ToSamplingParams(r.sampling());
  if (!params.ok()) return params.status();
  g.params = *params;

  g.n = r.has_n() ? r.n() : 1;
  if (g.n < 1 || g.n > kMaxSamples) {
    return absl::InvalidArgumentError(
        absl::StrFormat("n must be in [1, %d]; got %d", kMaxSamples, g.n));
  }
  const int room = model.context_length - prompt_len;
  if (r.has_max_tokens()) {
    if (r.max_tokens() < 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("max_tokens must be >= 1; got %d", r.max_tokens()));
    }
    if (r.max_tokens() > room) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "max_tokens (%d) + prompt (%d tokens) exceed the context length (%d)",
          r.max_tokens(), prompt_len, model.context_length));
    }
    g.max_tokens = r.max_tokens();
  } else {
    g.max_tokens = std::min(kDefaultMaxTokens, room);
  }

  if (r.stop_size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "stop has %d strings; at most %d", r.stop_size(), kMaxStopStrings));
  }
  for (int i = 0; i < r.stop_size(); ++i) {
    if (r.stop(i).empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("stop[%d] is empty", i));
    }
  }
  out.stop.assign(r.stop().begin(), r.stop().end());
  if (absl::Status s = CheckIds(r.stop_token_ids(), "stop_token_ids", model.vocab_size);
      !s.ok()) {
    return s;
  }
  g.stop_token_ids.assign(r.stop_token_ids().begin(), r.stop_token_ids().end());
  g.ignore_eos = r.ignore_eos();
  if (r.has_num_speculative_tokens()) {
    if (r.num_speculative_tokens() < 0 ||
        r.num_speculative_tokens() > kMaxSpeculativeTokens) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "num_speculative_tokens must be in [0, %d]; got %d", kMaxSpeculativeTokens,
          r.num_speculative_tokens()));
    }
    g.num_speculative_tokens = r.num_speculative_tokens();
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> PrepareTokenize(const v1::TokenizeRequest& r,
                                                     const ModelFacts& model) {
  switch (r.input_case()) {
    case v1::TokenizeRequest::kText:
      if (r.text().empty()) return absl::InvalidArgumentError("text is empty");
      return model.tokenizer->Encode(r.text(), true, false);
    case v1::TokenizeRequest::kChat:
      return EncodeChat(r.chat(), model);
    case v1::TokenizeRequest::INPUT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("input is missing: set text or chat");
}

}  // namespace llm
