#include "worker/llama_model.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace llm {
namespace {

// Activation buffer roles (Backend::Activations slots).
enum Slot : int {
  kResidual = 0, kNormed, kQ, kK, kV, kAttnOut, kProj, kGate, kUp,
  kLogitRows, kLogits,
};

absl::StatusOr<const GgufTensor*> Tensor(const GgufFile& file,
                                         const std::string& name) {
  const GgufTensor* t = file.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model file has no tensor '%s'", name));
  }
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(
    const GgufFile& file, Backend& backend) {
  absl::StatusOr<ModelConfig> config = ModelConfigFromGguf(file);
  if (!config.ok()) return config.status();
  if (absl::Status s = ValidateLlamaTensors(file, *config); !s.ok()) return s;

  std::unique_ptr<LlamaModel> model(new LlamaModel(*config, backend));
  auto matrix = [&](const std::string& name) -> absl::StatusOr<WeightId> {
    absl::StatusOr<const GgufTensor*> t = Tensor(file, name);
    if (!t.ok()) return t.status();
    return backend.UploadMatrix(**t);
  };
  auto vector = [&](const std::string& name) -> absl::StatusOr<WeightId> {
    absl::StatusOr<const GgufTensor*> t = Tensor(file, name);
    if (!t.ok()) return t.status();
    return backend.UploadVector(**t);
  };
#define LLM_ASSIGN(lhs, expr)               \
  do {                                      \
    auto _r = (expr);                       \
    if (!_r.ok()) return _r.status();       \
    lhs = *_r;                              \
  } while (0)

  LLM_ASSIGN(model->token_embedding_, matrix("token_embd.weight"));
  LLM_ASSIGN(model->output_norm_, vector("output_norm.weight"));
  if (file.FindTensor("output.weight") != nullptr) {
    LLM_ASSIGN(model->lm_head_, matrix("output.weight"));
  } else {
    model->lm_head_ = model->token_embedding_;  // tied embeddings
  }
  model->layers_.resize(config->n_layer);
  for (int l = 0; l < config->n_layer; ++l) {
    const std::string p = absl::StrFormat("blk.%d.", l);
    Layer& layer = model->layers_[l];
    LLM_ASSIGN(layer.attn_norm, vector(p + "attn_norm.weight"));
    LLM_ASSIGN(layer.wq, matrix(p + "attn_q.weight"));
    LLM_ASSIGN(layer.wk, matrix(p + "attn_k.weight"));
    LLM_ASSIGN(layer.wv, matrix(p + "attn_v.weight"));
    LLM_ASSIGN(layer.wo, matrix(p + "attn_output.weight"));
    LLM_ASSIGN(layer.ffn_norm, vector(p + "ffn_norm.weight"));
    LLM_ASSIGN(layer.w_gate, matrix(p + "ffn_gate.weight"));
    LLM_ASSIGN(layer.w_up, matrix(p + "ffn_up.weight"));
    LLM_ASSIGN(layer.w_down, matrix(p + "ffn_down.weight"));
  }
#undef LLM_ASSIGN
  return model;
}

absl::Status LlamaModel::Forward(const ForwardBatch& batch, float* logits,
                                int num_layers) {
  const ModelConfig& c = config_;
  const int n = batch.num_tokens();
  if (n == 0) return absl::OkStatus();
  Backend& b = backend_;
  if (absl::Status s = b.BeginStep(batch); !s.ok()) return s;

  const int d = c.d_model;
  float* x = b.Activations(kResidual, int64_t{n} * d);
  float* h = b.Activations(kNormed, int64_t{n} * d);
  float* q = b.Activations(kQ, int64_t{n} * c.q_dim());
  float* k = b.Activations(kK, int64_t{n} * c.kv_dim());
  float* v = b.Activations(kV, int64_t{n} * c.kv_dim());
  float* attn = b.Activations(kAttnOut, int64_t{n} * c.q_dim());
  float* proj = b.Activations(kProj, int64_t{n} * d);
  float* gate = b.Activations(kGate, int64_t{n} * c.n_ff);
  float* up = b.Activations(kUp, int64_t{n} * c.n_ff);

  b.Embed(token_embedding_, x);
  b.RmsNorm(x, layers_[0].attn_norm, n, d, c.rms_eps, h);
  const int n_layer =
      num_layers > 0 && num_layers < c.n_layer ? num_layers : c.n_layer;
  for (int l = 0; l < n_layer; ++l) {
    const Layer& L = layers_[l];
    const WeightId qkv[] = {L.wq, L.wk, L.wv};
    float* const qkv_out[] = {q, k, v};
    b.MatMul(qkv, h, n, qkv_out);
    b.PositionAndCache(c, l, q, k, v);
    b.Attention(c, l, q, attn);
    const WeightId wo[] = {L.wo};
    float* const wo_out[] = {proj};
    b.MatMul(wo, attn, n, wo_out);
    // x += attention output; h = ffn_norm(x).
    b.AddRmsNorm(x, proj, L.ffn_norm, n, d, c.rms_eps, h);
    const WeightId gate_up[] = {L.w_gate, L.w_up};
    float* const gate_up_out[] = {gate, up};
    b.MatMul(gate_up, h, n, gate_up_out);
    b.SwiGlu(gate, up, int64_t{n} * c.n_ff, gate);
    const WeightId down[] = {L.w_down};
    float* const down_out[] = {proj};
    b.MatMul(down, gate, n, down_out);
    // x += MLP output; h = next layer's attn_norm(x) (or the output norm).
    const WeightId next_norm =
        l + 1 < n_layer ? layers_[l + 1].attn_norm : output_norm_;
    b.AddRmsNorm(x, proj, next_norm, n, d, c.rms_eps, h);
  }

  const int m = static_cast<int>(batch.logit_rows.size());
  if (m == 0) return absl::OkStatus();
  float* rows = b.Activations(kLogitRows, int64_t{m} * d);
  b.GatherRows(h, d, batch.logit_rows, rows);
  float* out = b.Activations(kLogits, int64_t{m} * c.n_vocab);
  const WeightId head[] = {lm_head_};
  float* const head_out[] = {out};
  b.MatMul(head, rows, m, head_out);
  return b.ReadActivations(out, int64_t{m} * c.n_vocab, logits);
}

}  // namespace llm
