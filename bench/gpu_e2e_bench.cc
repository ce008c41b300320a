// gpu-e2e-bench: decode tokens/s of a model file through LlamaModel on the
// CudaBackend at several batch sizes, beside the batch-1 bandwidth floor
// (tokens/s <= copy bandwidth / bytes the GEMV reads per token: every
// matrix once, the embedding row aside) measured in the same run.
// Each batch: B sequences with a --prompt-len random prompt (one prefill
// step each), then --steps decode steps of B rows, logits for every row.
// Built without CUDA it prints that and exits 0.
#include <cstdio>

#if !LLM_HAVE_CUDA
int main() {
  std::printf("gpu-e2e-bench: built without CUDA\n");
  return 0;
}
#else

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/gguf.h"
#include "worker/cuda_backend.h"
#include "worker/llama_model.h"

namespace {

double CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *src = nullptr, *dst = nullptr;
  if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess) return 0;
  cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < 10; ++i) cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * bytes * 10 / (ms * 1e-3);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"End-to-end decode tokens/s on the CUDA backend"};
  std::string model_path;
  std::vector<int> batches;
  int prompt_len = 128, steps = 32;
  bool markdown = false;
  app.add_option("--model", model_path, "GGUF model")->required();
  app.add_option("--batch", batches, "Batch sizes (repeatable)")->required();
  app.add_option("--prompt-len", prompt_len, "Prompt tokens per sequence")->capture_default_str();
  app.add_option("--steps", steps, "Timed decode steps")->capture_default_str();
  app.add_flag("--markdown", markdown, "Print a markdown table");
  CLI11_PARSE(app, argc, argv);

  auto file = llm::GgufFile::Open(model_path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  auto backend = llm::CudaBackend::Create({});
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", std::string(backend.status().message()).c_str());
    return 1;
  }
  const double bw = CopyBandwidth();
  auto model = llm::LlamaModel::Load(**file, **backend);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const llm::ModelConfig& c = (*model)->config();
  // Bytes the batch-1 GEMV reads per token: every 2-D weight except the
  // embedding (one row gathered), plus the output head (tied: the embedding).
  double weight_bytes = 0;
  bool untied = false;
  for (const llm::GgufTensor& t : (*file)->tensors()) {
    if (t.ne.size() < 2) continue;
    if (t.name == "token_embd.weight") continue;
    if (t.name == "output.weight") untied = true;
    weight_bytes += static_cast<double>(t.nbytes);
  }
  if (!untied) {
    if (const llm::GgufTensor* e = (*file)->FindTensor("token_embd.weight")) {
      weight_bytes += static_cast<double>(e->nbytes);
    }
  }
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const int per_seq_blocks = (prompt_len + steps + 2 + 15) / 16;
  llm::KvCacheShape shape;
  shape.n_layer = c.n_layer;
  shape.n_kv_heads = c.n_head_kv;
  shape.head_dim = c.head_dim;
  shape.block_size = 16;
  shape.num_blocks = max_batch * per_seq_blocks;
  if (absl::Status s = (*backend)->AllocateKvCache(shape); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::vector<int32_t> table(shape.num_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(0, c.n_vocab - 1);

  if (markdown) {
    std::printf("Model: %s (%d layers, d_model %d, %d/%d heads, n_ff %d, vocab %d); "
                "GEMV weight bytes per token %.2f GB; copy bandwidth %.0f GB/s; "
                "batch-1 bandwidth floor **%.1f tokens/s**. Backend: %s.\n\n",
                model_path.c_str(), c.n_layer, c.d_model, c.n_head, c.n_head_kv, c.n_ff,
                c.n_vocab, weight_bytes / 1e9, bw / 1e9, bw / weight_bytes,
                (*backend)->name().c_str());
    std::printf("| batch | prompt | decode step (ms) | tokens/s | vs batch-1 floor |\n");
    std::printf("|---|---|---|---|---|\n");
  }
  std::vector<float> logits;
  for (int batch : batches) {
    // Prefill every sequence (one step each; not timed).
    for (int s = 0; s < batch; ++s) {
      llm::ForwardBatch fb;
      for (int p = 0; p < prompt_len; ++p) {
        fb.tokens.push_back(tok(rng));
        fb.positions.push_back(p);
        fb.slots.push_back(int64_t{table[s * per_seq_blocks + p / 16]} * 16 + p % 16);
      }
      llm::BatchSequence seq;
      seq.num_queries = prompt_len;
      seq.context_len = prompt_len;
      seq.block_table = absl::MakeConstSpan(table.data() + s * per_seq_blocks, per_seq_blocks);
      fb.seqs.push_back(seq);
      fb.logit_rows.push_back(prompt_len - 1);
      logits.resize(c.n_vocab);
      if (absl::Status st = (*model)->Forward(fb, logits.data()); !st.ok()) {
        std::fprintf(stderr, "prefill: %s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
    double total_ms = 0;
    for (int step = 0; step <= steps; ++step) {
      llm::ForwardBatch fb;
      const int pos = prompt_len + step;
      for (int s = 0; s < batch; ++s) {
        fb.tokens.push_back(tok(rng));
        fb.positions.push_back(pos);
        fb.slots.push_back(int64_t{table[s * per_seq_blocks + pos / 16]} * 16 + pos % 16);
        llm::BatchSequence seq;
        seq.query_start = s;
        seq.num_queries = 1;
        seq.context_len = pos + 1;
        seq.block_table = absl::MakeConstSpan(table.data() + s * per_seq_blocks, per_seq_blocks);
        fb.seqs.push_back(seq);
        fb.logit_rows.push_back(s);
      }
      logits.resize(static_cast<size_t>(batch) * c.n_vocab);
      const auto t0 = std::chrono::steady_clock::now();
      if (absl::Status st = (*model)->Forward(fb, logits.data()); !st.ok()) {
        std::fprintf(stderr, "decode: %s\n", std::string(st.message()).c_str());
        return 1;
      }
      const auto t1 = std::chrono::steady_clock::now();
      if (step > 0) total_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    const double step_ms = total_ms / steps;
    const double tps = batch * 1e3 / step_ms;
    if (markdown) {
      std::printf("| %d | %d | %.2f | %.0f | %.2fx |\n", batch, prompt_len, step_ms, tps,
                  tps / (bw / weight_bytes));
    } else {
      std::printf("batch %d: %.2f ms/step, %.0f tokens/s\n", batch, step_ms, tps);
    }
  }
  return 0;
}

#endif  // LLM_HAVE_CUDA
