// File: tools/llm-tokenize/main.cc
//
// llm-tokenize: tokenizes text with a GGUF file's tokenizer, one JSON line
// per text, for comparison with llama.cpp.
//
//   llm-tokenize --model M.gguf --text "Hello"     -> {"ids": [19556]}
//   echo Hello | llm-tokenize --model M.gguf       (one text per stdin line)
//   llm-tokenize --model M.gguf --decode --text "19556 905"
//                                                  -> {"text": "Hello world"}
//
// Special tokens are parsed (e.g. "<|im_start|>" is one id) unless
// --no-parse-special; BOS/EOS are added as llama.cpp adds them for the file
// unless --no-add-special. Exit status 1 on a bad model file or input.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/gguf.h"
#include "common/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

struct Options {
  std::string model;
  std::string text;
  bool has_text = false;
  bool decode = false;
  bool no_parse_special = false;
  bool no_add_special = false;
  bool render_special = false;
};

// Decoded bytes may be invalid UTF-8 (a token can end mid-character);
// nlohmann::json would throw on dump, so invalid bytes become U+FFFD.
std::string JsonLine(const std::string& key, const std::string& bytes) {
  nlohmann::json j;
  j[key] = bytes;
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // {"text":"..."} -> {"text": "..."}, the same layout as the ids lines.
  return s.insert(key.size() + 4, " ");
}

int Run(const Options& opt) {
  absl::StatusOr<std::unique_ptr<llm::GgufFile>> file = llm::GgufFile::Open(opt.model);
  if (!file.ok()) {
    std::cerr << "llm-tokenize: cannot open model '" << opt.model << "': " << file.status()
              << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tok = llm::Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    std::cerr << "llm-tokenize: bad tokenizer in '" << opt.model << "': " << tok.status() << "\n";
    return 1;
  }
  const auto handle = [&](const std::string& line) -> bool {
    if (opt.decode) {
      std::vector<int32_t> ids;
      size_t pos = 0;
      while (pos < line.size()) {
        const size_t start = line.find_first_not_of(" \t,[]", pos);
        if (start == std::string::npos) break;
        size_t end = line.find_first_of(" \t,[]", start);
        if (end == std::string::npos) end = line.size();
        const std::string num = line.substr(start, end - start);
        char* rest = nullptr;
        const long v = std::strtol(num.c_str(), &rest, 10);
        if (*rest != '\0' || v < 0 || v >= (*tok)->vocab_size()) {
          std::cerr << "llm-tokenize: bad token id '" << num << "'\n";
          return false;
        }
        ids.push_back(static_cast<int32_t>(v));
        pos = end;
      }
      std::cout << JsonLine("text", (*tok)->Decode(ids, opt.render_special)) << "\n";
      return true;
    }
    std::string out = "{\"ids\": [";
    const std::vector<int32_t> ids =
        (*tok)->Encode(line, !opt.no_add_special, !opt.no_parse_special);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out += ", ";
      out += std::to_string(ids[i]);
    }
    std::cout << out << "]}\n";
    return true;
  };
  if (opt.has_text) return handle(opt.text) ? 0 : 1;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!handle(line)) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenize text (or decode ids) with a GGUF model's tokenizer."};
  Options opt;
  app.add_option("--model", opt.model, "GGUF model file")->required();
  CLI::Option* text = app.add_option("--text", opt.text,
                                     "Text to tokenize (default: one text per stdin line)");
  app.add_flag("--decode", opt.decode,
               "Decode: input is token ids (space/comma separated), output {\"text\": ...}");
  app.add_flag("--no-parse-special", opt.no_parse_special,
               "Treat control-token texts such as <|im_start|> as plain text");
  app.add_flag("--no-add-special", opt.no_add_special, "Never add BOS/EOS");
  app.add_flag("--render-special", opt.render_special,
               "With --decode: render control tokens as their text");
  CLI11_PARSE(app, argc, argv);
  opt.has_text = text->count() > 0;
  return Run(opt);
}
