// File: common/chat_template.h
//
// Renders chat messages into a prompt string. The template text embedded in
// a GGUF file is never executed by a general template engine (CVE-2024-34359);
// instead it is recognised as one of a few known families (ChatML with or
// without SmolLM2's default system turn, Llama-2 [INST], Llama-3 headers,
// Zephyr...) and rendered by our own code. An unrecognised template is an
// error unless a family is forced.
#ifndef LLM_COMMON_CHAT_TEMPLATE_H_
#define LLM_COMMON_CHAT_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace llm {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant"
  std::string content;
};

enum class ChatTemplateFamily {
  kChatMl,              // <|im_start|>{role}\n{content}<|im_end|>\n
  kChatMlSmolLm,        // ChatML + SmolLM2's default system turn
  kLlama2,
  kLlama3,
  kZephyr,
};

// Recognises the family of `template_text` (tokenizer.chat_template).
// InvalidArgument when it is none of the known ones.
absl::StatusOr<ChatTemplateFamily> DetectChatTemplate(const std::string& template_text);

// Renders messages; with add_generation_prompt, ends with the assistant turn
// header. InvalidArgument when a role is unknown or messages is empty.
absl::StatusOr<std::string> RenderChat(ChatTemplateFamily family,
                                       absl::Span<const ChatMessage> messages,
                                       bool add_generation_prompt);

}  // namespace llm

#endif  // LLM_COMMON_CHAT_TEMPLATE_H_
