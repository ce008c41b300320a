// File: worker/llama_model.h
//
// LlamaModel: the LLaMA-family decoder (RMSNorm, RoPE or ALiBi attention with
// GQA, SwiGLU MLP, tied or separate LM head) written once against the
// Backend interface. It binds the GGUF's tensors to backend weights at load
// and runs one forward pass over a ragged batch (prefill chunks and decode
// tokens of many sequences mixed), computing logits only for the rows that
// are sampled.
//
// Thread safety: one owner thread (it drives the backend).
#ifndef LLM_WORKER_LLAMA_MODEL_H_
#define LLM_WORKER_LLAMA_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/gguf.h"
#include "common/model_config.h"
#include "worker/backend.h"

namespace llm {

class LlamaModel {
 public:
  // Validates config and tensors, uploads the weights to `backend`.
  // REQUIRES: file and backend outlive the model.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const GgufFile& file,
                                                          Backend& backend);

  const ModelConfig& config() const { return config_; }
  // What this backend's tensor-parallel rank computes with (local head and
  // FFN counts; == config() outside a group). The KV pool holds
  // local_config().n_head_kv heads.
  const ModelConfig& local_config() const { return local_; }
  Backend& backend() { return backend_; }

  // Runs the batch; writes [batch.logit_rows.size(), n_vocab] logits.
  // num_layers in [1, n_layer) exits early: the output norm and LM head
  // follow layer num_layers - 1 (a self-draft for speculative decoding;
  // only those layers' KV is written). <= 0: all layers.
  // REQUIRES: the backend's KV cache is allocated and every slot/table in the
  // batch lies inside it.
  absl::Status Forward(const ForwardBatch& batch, float* logits, int num_layers = 0);
  // The same pass, but the logit rows are sampled on the device
  // (Backend::SampleRows, params[i] for logit row i) and only the token
  // ids come back. REQUIRES: backend().CanSampleOnDevice(),
  // params.size() == batch.logit_rows.size().
  absl::Status ForwardSample(const ForwardBatch& batch, absl::Span<const RowSampling> params,
                             int32_t* tokens, int num_layers = 0);

 private:
  struct Layer {
    WeightId attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };

  // `batch`, or when it is pure decode and the backend wants it padded
  // (Backend::DecodeBucket), a copy with padding rows appended (token 0,
  // position 0, slot -1: no KV written, logits computed and dropped).
  const ForwardBatch& PadDecode(const ForwardBatch& batch);
  // The layers, norm and LM head; the logits stay in backend memory
  // (nullptr when no row is wanted).
  absl::StatusOr<const float*> RunToLogits(const ForwardBatch& batch, int num_layers);

  LlamaModel(const ModelConfig& config, Backend& backend)
      : config_(config), local_(config), backend_(backend) {}

  ModelConfig config_;
  ModelConfig local_;
  Backend& backend_;
  WeightId token_embedding_ = -1;
  WeightId output_norm_ = -1;
  WeightId lm_head_ = -1;
  std::vector<Layer> layers_;
  // Reused padding buffers (PadDecode, ForwardSample).
  ForwardBatch padded_;
  std::vector<RowSampling> padded_params_;
  std::vector<int32_t> padded_tokens_;
};

}  // namespace llm

#endif  // LLM_WORKER_LLAMA_MODEL_H_
