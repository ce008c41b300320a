// File: tools/llm-make-model/random_model.cc
#include "tools/llm-make-model/random_model.h"

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf.h"
#include "common/gguf_writer.h"
#include "kernels/reference/quantize.h"

namespace llm {
namespace {

constexpr char kChatMlTemplate[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

// GPT-2's byte -> unicode code point map, as UTF-8.
std::string ByteToken(int b) {
  int cp = b;
  const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  if (!printable) {
    int n = 0;  // rank of b among the non-printable bytes
    for (int c = 0; c < b; ++c) {
      const bool p = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
      if (!p) ++n;
    }
    cp = 0x100 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

void AddByteVocab(GgufWriter& w, int n_vocab) {
  std::vector<std::string> tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::vector<int32_t> types = {3, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(ByteToken(b));
    types.push_back(1);
  }
  for (int i = static_cast<int>(tokens.size()); i < n_vocab; ++i) {
    tokens.push_back(absl::StrCat("<|unused_", i, "|>"));
    types.push_back(5);
  }
  w.AddString("tokenizer.ggml.model", "gpt2");
  w.AddString("tokenizer.ggml.pre", "smollm");  // known to llama.cpp and to ours
  w.AddStringArray("tokenizer.ggml.tokens", std::move(tokens));
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  w.AddStringArray("tokenizer.ggml.merges", {});
  w.AddUint32("tokenizer.ggml.bos_token_id", 1);
  w.AddUint32("tokenizer.ggml.eos_token_id", 2);
  w.AddUint32("tokenizer.ggml.unknown_token_id", 0);
  w.AddUint32("tokenizer.ggml.padding_token_id", 2);
  w.AddBool("tokenizer.ggml.add_bos_token", false);
  w.AddString("tokenizer.chat_template", kChatMlTemplate);
}

// One matrix [cols, rows] (ne order) of uniform(-range, range), quantized
// row by row so no full f32 copy is ever held.
absl::Status AddRandomTensor(GgufWriter& w, std::mt19937_64& rng, const std::string& name,
                             int64_t cols, int64_t rows, GgmlType type, float center,
                             float range) {
  absl::StatusOr<uint64_t> row_bytes = GgmlRowBytes(type, cols);
  if (!row_bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s': width %d does not fit type %s (block size %d)", name, cols,
        GetGgmlTypeInfo(type).name, GetGgmlTypeInfo(type).block_size));
  }
  std::uniform_real_distribution<float> u(center - range, center + range);
  std::string bytes(*row_bytes * rows, '\0');
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = u(rng);
    if (auto s = kernels::reference::QuantizeRow(
            type, row.data(), cols, reinterpret_cast<uint8_t*>(bytes.data()) + r * *row_bytes);
        !s.ok()) {
      return s;
    }
  }
  std::vector<int64_t> ne = {cols};
  if (rows > 1 || name.find("norm") == std::string::npos) ne.push_back(rows);
  return w.AddTensor(name, std::move(ne), type, std::move(bytes));
}

absl::Status CheckShape(const RandomModelOptions& o) {
  auto bad = [](std::string m) { return absl::InvalidArgumentError(std::move(m)); };
  if (o.d_model < 1 || o.n_layer < 1 || o.n_head < 1 || o.n_head_kv < 1 || o.n_ff < 1 ||
      o.n_vocab < 1 || o.context_length < 1) {
    return bad("all sizes must be positive");
  }
  if (o.d_model % o.n_head != 0) {
    return bad(absl::StrFormat("--d-model %d is not divisible by --n-head %d", o.d_model,
                               o.n_head));
  }
  if (o.n_head % o.n_head_kv != 0) {
    return bad(absl::StrFormat("--n-head %d is not divisible by --n-head-kv %d", o.n_head,
                               o.n_head_kv));
  }
  if (!o.alibi && (o.d_model / o.n_head) % 2 != 0) {
    return bad("RoPE needs an even head dimension");
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t LlamaFileType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return 1;
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ4_1: return 3;
    case GgmlType::kQ8_0: return 7;
    case GgmlType::kQ5_0: return 8;
    case GgmlType::kQ5_1: return 9;
    case GgmlType::kQ4_K: return 15;  // Q4_K_M
    case GgmlType::kQ6_K: return 18;
    case GgmlType::kBF16: return 32;
    default: return 0;
  }
}

absl::Status WriteRandomModel(const RandomModelOptions& options, const std::string& path) {
  RandomModelOptions o = options;
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddString("general.name", "random-llama");
  w.AddUint32("general.file_type", LlamaFileType(o.matrix_type));
  w.AddUint32("general.quantization_version", 2);

  // Vocabulary first: it may fix n_vocab.
  std::unique_ptr<GgufFile> tokenizer_src;
  if (!o.tokenizer_from.empty()) {
    absl::StatusOr<std::unique_ptr<GgufFile>> src = GgufFile::Open(o.tokenizer_from);
    if (!src.ok()) return src.status();
    tokenizer_src = std::move(*src);
    absl::StatusOr<absl::Span<const std::string>> tokens =
        tokenizer_src->GetStringArray("tokenizer.ggml.tokens");
    if (!tokens.ok()) return tokens.status();
    if (o.n_vocab_given && static_cast<int>(tokens->size()) != o.n_vocab) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--n-vocab %d contradicts the %d tokens of --tokenizer-from", o.n_vocab,
          tokens->size()));
    }
    o.n_vocab = static_cast<int>(tokens->size());
  } else if (o.n_vocab < 259) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--n-vocab %d is too small for the built-in byte vocabulary (needs >= 259; or use "
        "--tokenizer-from)", o.n_vocab));
  }
  if (auto s = CheckShape(o); !s.ok()) return s;

  const int head_dim = o.d_model / o.n_head;
  w.AddUint32("llama.context_length", o.context_length);
  w.AddUint32("llama.embedding_length", o.d_model);
  w.AddUint32("llama.block_count", o.n_layer);
  w.AddUint32("llama.feed_forward_length", o.n_ff);
  w.AddUint32("llama.attention.head_count", o.n_head);
  w.AddUint32("llama.attention.head_count_kv", o.n_head_kv);
  w.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.AddUint32("llama.vocab_size", o.n_vocab);
  if (o.alibi) {
    w.AddFloat32("llama.attention.max_alibi_bias", 8.0f);
  } else {
    w.AddFloat32("llama.rope.freq_base", o.rope_base);
    w.AddUint32("llama.rope.dimension_count", head_dim);
  }
  if (tokenizer_src != nullptr) {
    for (const auto& [key, value] : tokenizer_src->metadata()) {
      if (absl::StartsWith(key, "tokenizer.")) w.AddValue(key, value);
    }
  } else {
    AddByteVocab(w, o.n_vocab);
  }

  std::mt19937_64 rng(o.seed);
  const int64_t d = o.d_model, q = int64_t{head_dim} * o.n_head;
  const int64_t kv = int64_t{head_dim} * o.n_head_kv;
  auto scale = [](int64_t fan_in) {
    return static_cast<float>(std::sqrt(3.0) * 0.5 / std::sqrt(static_cast<double>(fan_in)));
  };
  auto add = [&](const std::string& name, int64_t cols, int64_t rows, GgmlType type,
                 float center, float range) {
    return AddRandomTensor(w, rng, name, cols, rows, type, center, range);
  };
  if (auto s = add("token_embd.weight", d, o.n_vocab, o.embedding_type, 0, 0.1f); !s.ok()) {
    return s;
  }
  if (auto s = add("output_norm.weight", d, 1, GgmlType::kF32, 1, 0.05f); !s.ok()) return s;
  if (o.untied) {
    if (auto s = add("output.weight", d, o.n_vocab, o.embedding_type, 0, scale(d)); !s.ok()) {
      return s;
    }
  }
  for (int l = 0; l < o.n_layer; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    const GgmlType t = o.matrix_type;
    absl::Status s = add(b + "attn_norm.weight", d, 1, GgmlType::kF32, 1, 0.05f);
    if (s.ok()) s = add(b + "attn_q.weight", d, q, t, 0, scale(d));
    if (s.ok()) s = add(b + "attn_k.weight", d, kv, t, 0, scale(d));
    if (s.ok()) s = add(b + "attn_v.weight", d, kv, t, 0, scale(d));
    if (s.ok()) s = add(b + "attn_output.weight", q, d, t, 0, scale(q));
    if (s.ok()) s = add(b + "ffn_norm.weight", d, 1, GgmlType::kF32, 1, 0.05f);
    if (s.ok()) s = add(b + "ffn_gate.weight", d, o.n_ff, t, 0, scale(d));
    if (s.ok()) s = add(b + "ffn_up.weight", d, o.n_ff, t, 0, scale(d));
    if (s.ok()) s = add(b + "ffn_down.weight", o.n_ff, d, t, 0, scale(o.n_ff));
    if (!s.ok()) return s;
  }
  return w.WriteFile(path);
}

}  // namespace llm
