// File: common/model_config.cc
//
// Reads `<arch>.*` hyper-parameters and validates them once, so that later
// modules can size buffers from them without re-checking (REFERENCE.md §1.1
// item 8, §3).
#include "common/model_config.h"

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace llm {
namespace {

// Caps: far above any model this engine serves, low enough that per-layer
// and per-head arrays sized from them cannot exhaust memory.
constexpr int64_t kMaxLayers = 512;
constexpr int64_t kMaxDModel = 1 << 16;
constexpr int64_t kMaxFf = 1 << 18;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxContext = 1 << 24;

absl::Status Bad(std::string msg) { return absl::InvalidArgumentError(std::move(msg)); }

// Reads an integer key and checks it lies in [lo, hi].
absl::StatusOr<int> IntInRange(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi,
                               std::optional<int64_t> def = std::nullopt) {
  absl::StatusOr<int64_t> v = def ? f.GetIntOr(key, *def) : f.GetInt(key);
  if (!v.ok()) {
    if (absl::IsNotFound(v.status())) {
      return Bad(absl::StrCat("model config: required key '", key, "' is missing"));
    }
    return v.status();
  }
  if (*v < lo || *v > hi) {
    return Bad(absl::StrFormat("model config: %s = %d is outside [%d, %d]", key, *v, lo, hi));
  }
  return static_cast<int>(*v);
}

bool IsNeoxArch(const std::string& arch) {
  // llama.cpp's LLAMA_ROPE_TYPE_NEOX family (llama-model.cpp llama_model_rope_type).
  static const char* const kNeox[] = {
      "qwen", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gptneox", "phi2", "phi3",
      "stablelm", "starcoder2", "gemma", "gemma2", "gemma3", "olmo2", "falcon",
      "bert", "nomic-bert", "openelm", "codeshell", "exaone", "minicpm3"};
  for (const char* a : kNeox) {
    if (arch == a) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file) {
  ModelConfig c;
  absl::StatusOr<std::string> arch = file.GetString("general.architecture");
  if (!arch.ok()) {
    return Bad(absl::StrCat("model config: general.architecture: ", arch.status().message()));
  }
  if (arch->empty() || arch->size() > 64) {
    return Bad("model config: general.architecture is empty or too long");
  }
  c.architecture = *arch;
  if (auto name = file.GetString("general.name"); name.ok()) c.name = *name;
  const std::string p = c.architecture + ".";

  absl::StatusOr<int> v = IntInRange(file, p + "embedding_length", 1, kMaxDModel);
  if (!v.ok()) return v.status();
  c.d_model = *v;
  if (v = IntInRange(file, p + "block_count", 1, kMaxLayers); !v.ok()) return v.status();
  c.n_layer = *v;
  if (v = IntInRange(file, p + "feed_forward_length", 1, kMaxFf); !v.ok()) return v.status();
  c.n_ff = *v;
  if (v = IntInRange(file, p + "attention.head_count", 1, kMaxHeads); !v.ok()) return v.status();
  c.n_head = *v;
  if (v = IntInRange(file, p + "attention.head_count_kv", 1, kMaxHeads, c.n_head); !v.ok()) {
    return v.status();
  }
  c.n_head_kv = *v;
  if (v = IntInRange(file, p + "context_length", 1, kMaxContext); !v.ok()) return v.status();
  c.context_length = *v;

  if (c.d_model % c.n_head != 0) {
    return Bad(absl::StrFormat("model config: embedding_length %d is not divisible by "
                               "head_count %d", c.d_model, c.n_head));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return Bad(absl::StrFormat("model config: head_count %d is not divisible by "
                               "head_count_kv %d", c.n_head, c.n_head_kv));
  }
  c.head_dim = c.d_model / c.n_head;

  // Vocabulary: explicit key, else the token list.
  if (file.Has(p + "vocab_size")) {
    if (v = IntInRange(file, p + "vocab_size", 1, kMaxVocab); !v.ok()) return v.status();
    c.n_vocab = *v;
  } else {
    absl::StatusOr<absl::Span<const std::string>> tokens =
        file.GetStringArray("tokenizer.ggml.tokens");
    if (!tokens.ok()) {
      return Bad(absl::StrCat("model config: neither ", p,
                              "vocab_size nor tokenizer.ggml.tokens gives the vocabulary: ",
                              tokens.status().message()));
    }
    if (tokens->empty() || static_cast<int64_t>(tokens->size()) > kMaxVocab) {
      return Bad(absl::StrFormat("model config: tokenizer.ggml.tokens has %d entries, outside "
                                 "[1, %d]", tokens->size(), kMaxVocab));
    }
    c.n_vocab = static_cast<int>(tokens->size());
  }

  absl::StatusOr<double> eps = file.GetFloatOr(p + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps.ok()) return eps.status();
  if (!(*eps > 0.0 && *eps < 1.0)) {
    return Bad(absl::StrFormat("model config: %sattention.layer_norm_rms_epsilon = %g is not in "
                               "(0, 1)", p, *eps));
  }
  c.rms_eps = static_cast<float>(*eps);

  if (v = IntInRange(file, p + "rope.dimension_count", 0, c.head_dim, c.head_dim); !v.ok()) {
    return v.status();
  }
  c.rope_dim = *v;
  if (c.rope_dim % 2 != 0) {
    return Bad(absl::StrFormat("model config: %srope.dimension_count %d is odd", p, c.rope_dim));
  }
  absl::StatusOr<double> base = file.GetFloatOr(p + "rope.freq_base", 10000.0);
  if (!base.ok()) return base.status();
  if (!(*base > 1.0 && *base < 1e12)) {
    return Bad(absl::StrFormat("model config: %srope.freq_base = %g is not in (1, 1e12)", p,
                               *base));
  }
  c.rope_freq_base = static_cast<float>(*base);
  c.rope_mode = IsNeoxArch(c.architecture) ? RopeMode::kNeox : RopeMode::kNormal;

  // ALiBi: generic key, MPT's own key, or an architecture that always uses it.
  double alibi = 0.0;
  for (const std::string& key : {p + "attention.max_alibi_bias", p + "attention.alibi_bias_max"}) {
    if (!file.Has(key)) continue;
    absl::StatusOr<double> b = file.GetFloat(key);
    if (!b.ok()) return b.status();
    if (!std::isfinite(*b) || *b < 0.0 || *b > 64.0) {
      return Bad(absl::StrFormat("model config: %s = %g is not in [0, 64]", key, *b));
    }
    alibi = *b;
    break;
  }
  if (alibi == 0.0 && (c.architecture == "bloom" || c.architecture == "mpt")) alibi = 8.0;
  if (alibi > 0.0) {
    c.position = PositionEncoding::kAlibi;
    c.alibi_max_bias = static_cast<float>(alibi);
    c.rope_dim = 0;
  } else {
    c.position = c.rope_dim > 0 ? PositionEncoding::kRope : PositionEncoding::kNone;
  }

  c.tied_embeddings = file.FindTensor("output.weight") == nullptr;
  return c;
}

namespace {

absl::Status CheckTensor(const GgufFile& file, const std::string& name,
                         const std::vector<int64_t>& want_ne, bool is_norm) {
  const GgufTensor* t = file.FindTensor(name);
  if (t == nullptr) return Bad(absl::StrCat("tensor '", name, "' is missing"));
  if (t->ne != want_ne) {
    return Bad(absl::StrFormat("tensor '%s' has shape [%s], expected [%s]", name,
                               absl::StrJoin(t->ne, ", "), absl::StrJoin(want_ne, ", ")));
  }
  const GgmlTypeInfo& info = GetGgmlTypeInfo(t->type);
  if (is_norm) {
    if (t->type != GgmlType::kF32) {
      return Bad(absl::StrFormat("tensor '%s' has type %s, norms must be F32", name, info.name));
    }
    return absl::OkStatus();
  }
  switch (t->type) {
    case GgmlType::kF32: case GgmlType::kF16: case GgmlType::kBF16: case GgmlType::kQ4_0:
    case GgmlType::kQ4_1: case GgmlType::kQ8_0: case GgmlType::kQ4_K: case GgmlType::kQ6_K:
      return absl::OkStatus();
    default:
      return Bad(absl::StrFormat("tensor '%s' has type %s, which the matmul kernels do not "
                                 "support (F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K)",
                                 name, info.name));
  }
}

}  // namespace

absl::Status ValidateLlamaTensors(const GgufFile& file, const ModelConfig& config) {
  const int64_t d = config.d_model, v = config.n_vocab, ff = config.n_ff;
  const int64_t q = config.q_dim(), kv = config.kv_dim();
  if (auto s = CheckTensor(file, "token_embd.weight", {d, v}, false); !s.ok()) return s;
  if (auto s = CheckTensor(file, "output_norm.weight", {d}, true); !s.ok()) return s;
  if (file.FindTensor("output.weight") != nullptr) {
    if (auto s = CheckTensor(file, "output.weight", {d, v}, false); !s.ok()) return s;
  }
  for (int l = 0; l < config.n_layer; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    struct Want { const char* name; std::vector<int64_t> ne; bool norm; };
    const Want wants[] = {
        {"attn_norm.weight", {d}, true},      {"attn_q.weight", {d, q}, false},
        {"attn_k.weight", {d, kv}, false},    {"attn_v.weight", {d, kv}, false},
        {"attn_output.weight", {q, d}, false}, {"ffn_norm.weight", {d}, true},
        {"ffn_gate.weight", {d, ff}, false},  {"ffn_up.weight", {d, ff}, false},
        {"ffn_down.weight", {ff, d}, false},
    };
    for (const Want& w : wants) {
      if (auto s = CheckTensor(file, b + w.name, w.ne, w.norm); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
