// File: tools/llm-make-model/random_model.h
//
// Random-weight llama GGUF generation for llm-make-model. Weights are
// uniform in ±sqrt(3)/(2·sqrt(fan_in)) (std 0.5/sqrt(fan_in), so activations
// stay O(1) through deep stacks), embeddings uniform in ±0.1, norm weights
// 1 ± 0.05. Generation is deterministic in `seed`.
//
// Vocabulary: with `tokenizer_from`, all tokenizer.* keys of that file are
// copied and n_vocab = its token count. Otherwise a minimal GPT-2 byte-level
// vocabulary (model "gpt2", pre "smollm", no merges): ids 0..2 are the control
// tokens <|endoftext|>, <|im_start|>, <|im_end|> (bos 1, eos 2, as SmolLM2),
// ids 3..258 the 256 single bytes in the byte->unicode alphabet, and the rest
// unused fillers "<|unused_N|>"; plus a ChatML chat template.
//
// Thread safety: stateless functions.
#ifndef LLM_TOOLS_LLM_MAKE_MODEL_RANDOM_MODEL_H_
#define LLM_TOOLS_LLM_MAKE_MODEL_RANDOM_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/ggml_types.h"

namespace llm {

struct RandomModelOptions {
  int d_model = 576;
  int n_layer = 30;
  int n_head = 9;
  int n_head_kv = 3;
  int n_ff = 1536;
  int n_vocab = 49152;
  bool n_vocab_given = false;  // --n-vocab passed explicitly
  int context_length = 8192;
  GgmlType matrix_type = GgmlType::kQ4_1;
  GgmlType embedding_type = GgmlType::kQ8_0;
  bool alibi = false;
  float rope_base = 100000.0f;
  uint64_t seed = 1;
  std::string tokenizer_from;
  bool untied = false;  // write output.weight
};

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for models whose matrices
// are mostly `type`.
uint32_t LlamaFileType(GgmlType type);

// InvalidArgument for inconsistent options (named), Internal on I/O errors.
absl::Status WriteRandomModel(const RandomModelOptions& options, const std::string& path);

}  // namespace llm

#endif  // LLM_TOOLS_LLM_MAKE_MODEL_RANDOM_MODEL_H_
