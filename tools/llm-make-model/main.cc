// llm-make-model: writes GGUF models for tests and benchmarks.
//
//   Random weights, llama layout (default shape = SmolLM2-135M):
//     llm-make-model --out m.gguf [--d-model 576] [--n-layer 30] ... [--type Q4_1]
//   Requantise an existing model's matrices (e.g. a draft model):
//     llm-make-model --from model.gguf --out m_q8.gguf --type Q8_0
//
// Exit status 0 on success, 1 on a runtime failure, 2 on bad arguments.
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ggml_types.h"
#include "common/gguf.h"
#include "common/gguf_writer.h"
#include "common/model_config.h"
#include "kernels/reference/quantize.h"
#include "tools/llm-make-model/random_model.h"

namespace llm {
namespace {

absl::StatusOr<GgmlType> ParseType(const std::string& flag, const std::string& name) {
  std::optional<GgmlType> t = ParseGgmlType(name);
  if (!t || !kernels::reference::QuantizeSupports(*t)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": unsupported type '", name,
        "' (use F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K or Q6_K)"));
  }
  return *t;
}

// Re-encodes every matrix (tensor with >= 2 dims) of `from` in `type`; token
// embedding / output use `embedding_type` when set. Norms and other 1-D
// tensors, and all metadata, are copied unchanged.
absl::Status Requantize(const std::string& from, const std::string& out, GgmlType type,
                        std::optional<GgmlType> embedding_type) {
  absl::StatusOr<std::unique_ptr<GgufFile>> src = GgufFile::Open(from);
  if (!src.ok()) return src.status();
  GgufWriter w;
  for (const auto& [key, value] : (*src)->metadata()) w.AddValue(key, value);
  w.AddUint32("general.file_type", LlamaFileType(type));
  for (const GgufTensor& t : (*src)->tensors()) {
    const bool is_embedding = t.name == "token_embd.weight" || t.name == "output.weight";
    GgmlType target = t.type;
    if (t.ne.size() >= 2) target = type;
    if (is_embedding) target = embedding_type.value_or(t.type);
    if (target == t.type) {
      std::string bytes(reinterpret_cast<const char*>(t.data), t.nbytes);
      if (auto s = w.AddTensor(t.name, t.ne, t.type, std::move(bytes)); !s.ok()) return s;
      continue;
    }
    if (!kernels::reference::QuantizeSupports(t.type)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tensor '%s': cannot dequantize source type %s", t.name,
          GetGgmlTypeInfo(t.type).name));
    }
    absl::StatusOr<uint64_t> out_row = GgmlRowBytes(target, t.ne[0]);
    if (!out_row.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "': ", out_row.status().message()));
    }
    std::string bytes(*out_row * t.rows(), '\0');
    std::vector<float> row(t.ne[0]);
    for (int64_t r = 0; r < t.rows(); ++r) {
      kernels::reference::DequantizeRowF32(t.type, t.data + r * t.row_bytes(), t.ne[0],
                                           row.data());
      if (auto s = kernels::reference::QuantizeRow(
              target, row.data(), t.ne[0],
              reinterpret_cast<uint8_t*>(bytes.data()) + r * *out_row);
          !s.ok()) {
        return s;
      }
    }
    if (auto s = w.AddTensor(t.name, t.ne, target, std::move(bytes)); !s.ok()) return s;
  }
  return w.WriteFile(out);
}

int Run(int argc, char** argv) {
  CLI::App app{"Writes a random-weight llama GGUF, or requantises an existing one."};
  RandomModelOptions o;
  std::string out, from, type_name = "Q4_1", embedding_name = "Q8_0", position = "rope";
  app.add_option("--out", out, "Output GGUF path")->required();
  app.add_option("--from", from,
                 "Requantise this GGUF's matrices to --type instead of generating weights")
      ->check(CLI::ExistingFile);
  app.add_option("--d-model", o.d_model, "Embedding width")->capture_default_str();
  app.add_option("--n-layer", o.n_layer, "Transformer blocks")->capture_default_str();
  app.add_option("--n-head", o.n_head, "Query heads")->capture_default_str();
  app.add_option("--n-head-kv", o.n_head_kv, "Key/value heads")->capture_default_str();
  app.add_option("--n-ff", o.n_ff, "Feed-forward width")->capture_default_str();
  auto* vocab_opt = app.add_option("--n-vocab", o.n_vocab, "Vocabulary size")
                        ->capture_default_str();
  app.add_option("--context-length", o.context_length, "Trained context")->capture_default_str();
  app.add_option("--type", type_name, "Matrix type")->capture_default_str();
  auto* emb_opt = app.add_option("--embedding-type", embedding_name,
                                 "token_embd (and output) type")->capture_default_str();
  app.add_option("--position", position, "rope or alibi")
      ->check(CLI::IsMember({"rope", "alibi"}))->capture_default_str();
  app.add_option("--rope-base", o.rope_base, "RoPE frequency base")->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_option("--tokenizer-from", o.tokenizer_from,
                 "Copy tokenizer.* metadata from this GGUF (n_vocab then follows it); "
                 "otherwise a minimal byte-level vocabulary is written")
      ->check(CLI::ExistingFile);
  app.add_flag("--untied", o.untied, "Also write a separate output.weight");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  absl::StatusOr<GgmlType> type = ParseType("--type", type_name);
  absl::StatusOr<GgmlType> emb = ParseType("--embedding-type", embedding_name);
  if (!type.ok() || !emb.ok()) {
    std::fprintf(stderr, "llm-make-model: %s\n",
                 std::string((!type.ok() ? type.status() : emb.status()).message()).c_str());
    return 2;
  }
  absl::Status s;
  if (!from.empty()) {
    s = Requantize(from, out, *type,
                   emb_opt->count() > 0 ? std::optional<GgmlType>(*emb) : std::nullopt);
  } else {
    o.matrix_type = *type;
    o.embedding_type = *emb;
    o.alibi = position == "alibi";
    o.n_vocab_given = vocab_opt->count() > 0;
    s = WriteRandomModel(o, out);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "llm-make-model: %s\n", std::string(s.message()).c_str());
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  // Self-check: the file must load as a valid llama model.
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(out);
  absl::StatusOr<ModelConfig> c =
      f.ok() ? ModelConfigFromGguf(**f) : absl::StatusOr<ModelConfig>(f.status());
  if (c.ok()) s = ValidateLlamaTensors(**f, *c);
  if (!c.ok() || !s.ok()) {
    std::fprintf(stderr, "llm-make-model: written file does not validate: %s\n",
                 std::string((!c.ok() ? c.status() : s).message()).c_str());
    return 1;
  }
  std::printf("wrote %s: %s, %d layers, d_model %d, %d heads (%d kv), n_ff %d, vocab %d, "
              "%zu tensors, %llu bytes\n",
              out.c_str(), c->architecture.c_str(), c->n_layer, c->d_model, c->n_head,
              c->n_head_kv, c->n_ff, c->n_vocab, (*f)->tensors().size(),
              static_cast<unsigned long long>((*f)->file_size()));
  return 0;
}

}  // namespace
}  // namespace llm

int main(int argc, char** argv) { return llm::Run(argc, argv); }
