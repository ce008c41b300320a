// File: common/model_config.h
//
// ModelConfig: the hyper-parameters of a decoder-only transformer, read from
// GGUF metadata (`<arch>.*` keys) and validated once. Every later module
// trusts it: head counts divide, layer count is capped, sizes are positive.
#ifndef LLM_COMMON_MODEL_CONFIG_H_
#define LLM_COMMON_MODEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/gguf.h"

namespace llm {

enum class PositionEncoding { kRope, kAlibi, kNone };
// kNormal pairs (x[2i], x[2i+1]) (llama GGUF); kNeox pairs (x[i], x[i+d/2]).
enum class RopeMode { kNormal, kNeox };

struct ModelConfig {
  std::string architecture;   // "llama"
  std::string name;           // general.name, informational
  int n_vocab = 0;
  int d_model = 0;            // embedding_length
  int n_layer = 0;            // block_count
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;           // d_model / n_head
  int n_ff = 0;               // feed_forward_length
  int context_length = 0;
  float rms_eps = 1e-5f;
  PositionEncoding position = PositionEncoding::kRope;
  RopeMode rope_mode = RopeMode::kNormal;
  int rope_dim = 0;           // rotated dims per head (== head_dim here)
  float rope_freq_base = 10000.0f;
  float alibi_max_bias = 8.0f;  // used when position == kAlibi
  bool tied_embeddings = true;  // no output.weight: LM head = token_embd

  int gqa_group() const { return n_head / n_head_kv; }
  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates the config. Positional encoding: ALiBi when the file
// carries `<arch>.attention.max_alibi_bias` > 0 (or the architecture is
// bloom/mpt), RoPE otherwise. InvalidArgument naming the key on any problem.
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file);

// Checks the tensors a llama-family model needs exist with the exact shapes
// implied by `config` and types the kernels support.
absl::Status ValidateLlamaTensors(const GgufFile& file, const ModelConfig& config);

}  // namespace llm

#endif  // LLM_COMMON_MODEL_CONFIG_H_
