#include "worker/llama_model.h"

#include <algorithm>

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
  // A tensor-parallel rank holds its shard of the attention and FFN
  // matrices (worker/tensor_parallel.h); outside a group every slice is
  // the whole matrix.
  absl::StatusOr<ShardLayout> layout =
      PlanShards(*config, backend.tp_rank(), backend.tp_size());
  if (!layout.ok()) return layout.status();
  model->local_ = LocalConfig(*config, *layout);
  auto matrix = [&](const std::string& name,
                    WeightRole role = WeightRole::kReplicated)
      -> absl::StatusOr<WeightId> {
    absl::StatusOr<const GgufTensor*> t = Tensor(file, name);
    if (!t.ok()) return t.status();
    const MatrixSlice slice =
        SliceFor(role, *config, *layout, (*t)->rows(), (*t)->ne[0]);
    if (slice.IsWhole(**t)) return backend.UploadMatrix(**t);
    if (absl::Status s = CheckSlice(**t, slice); !s.ok()) return s;
    return backend.UploadMatrixSlice(**t, slice);
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
    LLM_ASSIGN(layer.wq, matrix(p + "attn_q.weight", WeightRole::kQ));
    LLM_ASSIGN(layer.wk, matrix(p + "attn_k.weight", WeightRole::kK));
    LLM_ASSIGN(layer.wv, matrix(p + "attn_v.weight", WeightRole::kV));
    LLM_ASSIGN(layer.wo, matrix(p + "attn_output.weight", WeightRole::kAttnOutput));
    LLM_ASSIGN(layer.ffn_norm, vector(p + "ffn_norm.weight"));
    LLM_ASSIGN(layer.w_gate, matrix(p + "ffn_gate.weight", WeightRole::kGate));
    LLM_ASSIGN(layer.w_up, matrix(p + "ffn_up.weight", WeightRole::kUp));
    LLM_ASSIGN(layer.w_down, matrix(p + "ffn_down.weight", WeightRole::kDown));
  }
#undef LLM_ASSIGN
  return model;
}

const ForwardBatch& LlamaModel::PadDecode(const ForwardBatch& batch) {
  const int n = batch.num_tokens();
  // Pure decode: n sequences of one row each, all sampled (logit_rows is
  // ascending, so n entries are rows 0..n-1).
  if (n == 0 || batch.seqs.size() != static_cast<size_t>(n) ||
      batch.logit_rows.size() != static_cast<size_t>(n)) {
    return batch;
  }
  const int rows = backend_.DecodeBucket(n);
  if (rows <= n) return batch;
  padded_ = batch;
  BatchSequence pad;
  pad.num_queries = 1;
  pad.context_len = 1;
  pad.block_table = batch.seqs[0].block_table;  // read (one key), never written
  for (int i = n; i < rows; ++i) {
    padded_.tokens.push_back(0);
    padded_.positions.push_back(0);
    padded_.slots.push_back(-1);
    pad.query_start = i;
    padded_.seqs.push_back(pad);
    padded_.logit_rows.push_back(i);
  }
  return padded_;
}

absl::Status LlamaModel::Forward(const ForwardBatch& batch, float* logits,
                                int num_layers) {
  // Real rows come first in a padded batch: read back only theirs.
  absl::StatusOr<const float*> out = RunToLogits(PadDecode(batch), num_layers);
  if (!out.ok()) return out.status();
  if (*out == nullptr) return absl::OkStatus();
  const int64_t m = static_cast<int64_t>(batch.logit_rows.size());
  return backend_.ReadActivations(*out, m * config_.n_vocab, logits);
}

absl::Status LlamaModel::ForwardSample(const ForwardBatch& batch,
                                       absl::Span<const RowSampling> params,
                                       int32_t* tokens, int num_layers) {
  if (params.size() != batch.logit_rows.size()) {
    return absl::InvalidArgumentError("one sampling row per logit row");
  }
  const ForwardBatch& padded = PadDecode(batch);
  absl::StatusOr<const float*> out = RunToLogits(padded, num_layers);
  if (!out.ok()) return out.status();
  if (*out == nullptr) return absl::OkStatus();
  const size_t rows = padded.logit_rows.size();
  if (rows == params.size()) {
    return backend_.SampleRows(*out, static_cast<int>(rows), config_.n_vocab, params,
                               tokens);
  }
  padded_params_.assign(params.begin(), params.end());
  padded_params_.resize(rows);  // padding rows: greedy
  padded_tokens_.resize(rows);
  if (absl::Status s = backend_.SampleRows(*out, static_cast<int>(rows), config_.n_vocab,
                                           padded_params_, padded_tokens_.data());
      !s.ok()) {
    return s;
  }
  std::copy(padded_tokens_.begin(), padded_tokens_.begin() + params.size(), tokens);
  return absl::OkStatus();
}

absl::StatusOr<const float*> LlamaModel::RunToLogits(const ForwardBatch& batch,
                                                     int num_layers) {
  // The local config: head and FFN counts of this rank's shard (the
  // residual stream, d_model, is whole on every rank).
  const ModelConfig& c = local_;
  const bool all_reduce = backend_.tp_size() > 1;
  const int n = batch.num_tokens();
  if (n == 0) return nullptr;
  Backend& b = backend_;
  const int n_layer =
      num_layers > 0 && num_layers < c.n_layer ? num_layers : c.n_layer;
  b.SetStepLayers(n_layer);
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
    // Row-parallel: each rank's product is a partial sum over its heads.
    if (all_reduce) b.AllReduceSum(proj, int64_t{n} * d);
    // x += attention output; h = ffn_norm(x).
    b.AddRmsNorm(x, proj, L.ffn_norm, n, d, c.rms_eps, h);
    const WeightId gate_up[] = {L.w_gate, L.w_up};
    float* const gate_up_out[] = {gate, up};
    b.MatMul(gate_up, h, n, gate_up_out);
    b.SwiGlu(gate, up, int64_t{n} * c.n_ff, gate);
    const WeightId down[] = {L.w_down};
    float* const down_out[] = {proj};
    b.MatMul(down, gate, n, down_out);
    if (all_reduce) b.AllReduceSum(proj, int64_t{n} * d);
    // x += MLP output; h = next layer's attn_norm(x) (or the output norm).
    const WeightId next_norm =
        l + 1 < n_layer ? layers_[l + 1].attn_norm : output_norm_;
    b.AddRmsNorm(x, proj, next_norm, n, d, c.rms_eps, h);
  }

  const int m = static_cast<int>(batch.logit_rows.size());
  if (m == 0) return nullptr;
  float* rows = b.Activations(kLogitRows, int64_t{m} * d);
  b.GatherRows(h, d, batch.logit_rows, rows);
  float* out = b.Activations(kLogits, int64_t{m} * c.n_vocab);
  const WeightId head[] = {lm_head_};
  float* const head_out[] = {out};
  b.MatMul(head, rows, m, head_out);
  return static_cast<const float*>(out);
}

}  // namespace llm
