// Tests for common/chat_template.h. The SmolLM2 cases compare byte for byte
// with jinja2's rendering of the template embedded in the model file
// (tests/fixtures/chat_template_golden.json, made by
// scripts/golden/make_chat_template_goldens.py).
#include "common/chat_template.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace llm {
namespace {

using ::testing::HasSubstr;

constexpr char kSmolLmSystem[] =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n";

nlohmann::json LoadGolden() {
  std::ifstream in(std::string(LLM_SOURCE_DIR) + "/tests/fixtures/chat_template_golden.json");
  EXPECT_TRUE(in.good()) << "missing fixture; run scripts/golden/make_chat_template_goldens.py";
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::vector<ChatMessage> Messages(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) {
    out.push_back(ChatMessage{m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  }
  return out;
}

TEST(ChatTemplateTest, SmolLmRenderingMatchesJinjaGoldenExactly) {
  const nlohmann::json golden = LoadGolden();
  ASSERT_GE(golden.at("cases").size(), 10u);
  for (const auto& c : golden.at("cases")) {
    const std::vector<ChatMessage> messages = Messages(c.at("messages"));
    const absl::StatusOr<std::string> got = RenderChat(
        ChatTemplateFamily::kChatMlSmolLm, messages, c.at("add_generation_prompt").get<bool>());
    ASSERT_TRUE(got.ok()) << c.at("name") << ": " << got.status();
    EXPECT_EQ(*got, c.at("expected").get<std::string>()) << c.at("name");
  }
}

TEST(ChatTemplateTest, GoldenTemplateTextIsDetectedAsSmolLm) {
  const nlohmann::json golden = LoadGolden();
  const auto family = DetectChatTemplate(golden.at("template").get<std::string>());
  ASSERT_TRUE(family.ok()) << family.status();
  EXPECT_EQ(*family, ChatTemplateFamily::kChatMlSmolLm);
}

TEST(ChatTemplateTest, ReferenceExampleRendersAsDocumented) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  const auto got = RenderChat(ChatTemplateFamily::kChatMlSmolLm, messages, true);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, std::string(kSmolLmSystem) +
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, PlainChatMlHasNoDefaultSystemTurn) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}, {"assistant", "Hello"}};
  const auto got = RenderChat(ChatTemplateFamily::kChatMl, messages, false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n");
}

TEST(ChatTemplateTest, DetectsEachFamilyFromMarkers) {
  struct Case {
    std::string text;
    ChatTemplateFamily family;
  };
  const std::vector<Case> cases = {
      {"{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
       "{% endfor %}",
       ChatTemplateFamily::kChatMl},
      {"{{ bos_token }}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% endif %}",
       ChatTemplateFamily::kLlama2},
      {"<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>",
       ChatTemplateFamily::kLlama3},
      {"{% if m.role == 'user' %}<|user|>\n{{ m.content }}</s>{% endif %}",
       ChatTemplateFamily::kZephyr},
  };
  for (const Case& c : cases) {
    const auto family = DetectChatTemplate(c.text);
    ASSERT_TRUE(family.ok()) << c.text;
    EXPECT_EQ(*family, c.family) << c.text;
  }
}

TEST(ChatTemplateTest, UnknownOrEmptyTemplateIsInvalidArgument) {
  EXPECT_EQ(DetectChatTemplate("{{ messages }}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetectChatTemplate("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, UnknownRoleNamesTheMessage) {
  const std::vector<ChatMessage> messages = {{"user", "a"}, {"robot", "b"}};
  const auto got = RenderChat(ChatTemplateFamily::kChatMlSmolLm, messages, true);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("messages[1].role"));
  EXPECT_THAT(got.status().message(), HasSubstr("robot"));
}

TEST(ChatTemplateTest, ToolRoleIsChatMlOnly) {
  const std::vector<ChatMessage> messages = {{"user", "a"}, {"tool", "42"}};
  EXPECT_TRUE(RenderChat(ChatTemplateFamily::kChatMl, messages, false).ok());
  EXPECT_EQ(RenderChat(ChatTemplateFamily::kLlama3, messages, false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, EmptyMessagesIsInvalidArgument) {
  const auto got = RenderChat(ChatTemplateFamily::kChatMlSmolLm, {}, true);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("messages"));
}

TEST(ChatTemplateTest, Llama3WrapsEachTurnInHeaders) {
  const std::vector<ChatMessage> messages = {{"system", "S"}, {"user", " Hi "}};
  const auto got = RenderChat(ChatTemplateFamily::kLlama3, messages, true);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, Llama2FoldsSystemIntoFirstUserTurn) {
  const std::vector<ChatMessage> messages = {
      {"system", "S"}, {"user", "Hi"}, {"assistant", "Yo"}, {"user", "Bye"}};
  const auto got = RenderChat(ChatTemplateFamily::kLlama2, messages, true);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got,
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST] Yo </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplateTest, ZephyrUsesRoleTags) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  const auto got = RenderChat(ChatTemplateFamily::kZephyr, messages, true);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "<|user|>\nHi</s>\n<|assistant|>\n");
}

}  // namespace
}  // namespace llm
