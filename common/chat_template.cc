// File: common/chat_template.cc
//
// Detection looks for marker strings only; the template text is never
// interpreted. Renderers reproduce the Hugging Face templates of each family
// for the plain (no tools, no multimodal) case; the SmolLM2 one is checked
// against jinja2 output in tests/fixtures/chat_template_golden.json.
#include "common/chat_template.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace llm {
namespace {

constexpr absl::string_view kSmolLmDefaultSystem =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

bool IsChatMl(ChatTemplateFamily family) {
  return family == ChatTemplateFamily::kChatMl || family == ChatTemplateFamily::kChatMlSmolLm;
}

// ChatML families also carry tool results; the others know three roles.
absl::Status CheckRoles(ChatTemplateFamily family, absl::Span<const ChatMessage> messages) {
  if (messages.empty()) return absl::InvalidArgumentError("messages must not be empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    const bool known = role == "system" || role == "user" || role == "assistant" ||
                       (IsChatMl(family) && role == "tool");
    if (!known) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "messages[%d].role must be one of system, user, assistant%s; got \"%s\"", i,
          IsChatMl(family) ? ", tool" : "", role));
    }
  }
  return absl::OkStatus();
}

std::string RenderChatMl(bool smollm_default_system, absl::Span<const ChatMessage> messages,
                         bool add_generation_prompt) {
  std::string out;
  if (smollm_default_system && messages[0].role != "system") {
    absl::StrAppend(&out, "<|im_start|>system\n", kSmolLmDefaultSystem, "<|im_end|>\n");
  }
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Meta's Llama-2 chat format as in its HF template: the system prompt is
// folded into the first user turn; each exchange is its own <s>...</s>.
// There is no generation header: the prompt already ends with [/INST].
std::string RenderLlama2(absl::Span<const ChatMessage> messages) {
  std::string out;
  std::string system;
  size_t begin = 0;
  if (messages[0].role == "system") {
    system = std::string(absl::StripAsciiWhitespace(messages[0].content));
    begin = 1;
  }
  bool first_user = true;
  for (size_t i = begin; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const absl::string_view content = absl::StripAsciiWhitespace(m.content);
    if (m.role == "assistant") {
      absl::StrAppend(&out, " ", content, " </s>");
    } else {  // user (a later system message is treated as a user turn)
      absl::StrAppend(&out, "<s>[INST] ");
      if (first_user && !system.empty()) {
        absl::StrAppend(&out, "<<SYS>>\n", system, "\n<</SYS>>\n\n");
      }
      absl::StrAppend(&out, content, " [/INST]");
      first_user = false;
    }
  }
  return out;
}

std::string RenderLlama3(absl::Span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out = "<|begin_of_text|>";
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n",
                    absl::StripAsciiWhitespace(m.content), "<|eot_id|>");
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string RenderZephyr(absl::Span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, "<|", m.role, "|>\n", m.content, "</s>\n");
  }
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

}  // namespace

absl::StatusOr<ChatTemplateFamily> DetectChatTemplate(const std::string& template_text) {
  if (absl::StrContains(template_text, "<|im_start|>")) {
    return absl::StrContains(template_text, "You are a helpful AI assistant named SmolLM")
               ? ChatTemplateFamily::kChatMlSmolLm
               : ChatTemplateFamily::kChatMl;
  }
  if (absl::StrContains(template_text, "<|start_header_id|>")) return ChatTemplateFamily::kLlama3;
  if (absl::StrContains(template_text, "[INST]")) return ChatTemplateFamily::kLlama2;
  if (absl::StrContains(template_text, "<|user|>")) return ChatTemplateFamily::kZephyr;
  if (template_text.empty()) {
    return absl::InvalidArgumentError("chat template is empty; force a template family");
  }
  return absl::InvalidArgumentError(
      "chat template is not a known family (ChatML, SmolLM2 ChatML, Llama-2, Llama-3, "
      "Zephyr); force a template family");
}

absl::StatusOr<std::string> RenderChat(ChatTemplateFamily family,
                                       absl::Span<const ChatMessage> messages,
                                       bool add_generation_prompt) {
  if (absl::Status s = CheckRoles(family, messages); !s.ok()) return s;
  switch (family) {
    case ChatTemplateFamily::kChatMl:
      return RenderChatMl(/*smollm_default_system=*/false, messages, add_generation_prompt);
    case ChatTemplateFamily::kChatMlSmolLm:
      return RenderChatMl(/*smollm_default_system=*/true, messages, add_generation_prompt);
    case ChatTemplateFamily::kLlama2:
      return RenderLlama2(messages);
    case ChatTemplateFamily::kLlama3:
      return RenderLlama3(messages, add_generation_prompt);
    case ChatTemplateFamily::kZephyr:
      return RenderZephyr(messages, add_generation_prompt);
  }
  return absl::InvalidArgumentError("unknown chat template family");
}

}  // namespace llm
