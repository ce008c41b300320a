// File: worker/cuda_backend_graphs.cc
//
// CUDA graphs for pure-decode steps (cuda_backend.h, decode_buckets.h): a
// decode step launches ~12 kernels per layer, a few microseconds of launch
// overhead each, which at small batches is a large part of the step. A step
// whose shape (rows, key bucket) was seen before is replayed from a graph
// captured on its second occurrence, after the first ran eagerly and grew
// every buffer to its size.
#include "worker/cuda_backend.h"

#if LLM_HAVE_CUDA

#include "absl/strings/str_format.h"
#include "worker/decode_buckets.h"

namespace llm {

int CudaBackend::DecodeBucket(int n) const {
  if (!options_.cuda_graphs || options_.tp_size > 1) return n;
  return DecodeBatchBucket(n);
}

bool CudaBackend::GraphEligible(const ForwardBatch& batch) const {
  const int n = batch.num_tokens();
  // NCCL calls are not captured: tensor-parallel steps run eagerly.
  return options_.cuda_graphs && options_.tp_size == 1 && n > 0 &&
         n <= kMaxGraphDecodeRows && DecodeBatchBucket(n) == n && num_tiles_ == 0 &&
         num_decode_rows_ == n && batch.seqs.size() == static_cast<size_t>(n) &&
         batch.logit_rows.size() == static_cast<size_t>(n);
}

absl::Status CudaBackend::StartGraphStep(GraphKey key) {
  graph_key_ = key;
  GraphEntry& g = graphs_[key];
  if (g.exec != nullptr && g.exec_generation == buffers_generation_) {
    graph_mode_ = GraphMode::kReplay;
    return absl::OkStatus();
  }
  if (g.exec != nullptr) {  // saw buffers that were reallocated since
    cudaGraphExecDestroy(g.exec);
    g.exec = nullptr;
  }
  if (g.warm_generation != buffers_generation_) {
    graph_mode_ = GraphMode::kWarmup;
    return absl::OkStatus();
  }
  if (cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
      e != cudaSuccess) {
    cudaGetLastError();
    options_.cuda_graphs = false;  // run eagerly from now on
    graph_mode_ = GraphMode::kEager;
    return absl::OkStatus();
  }
  graph_mode_ = GraphMode::kCapture;
  return absl::OkStatus();
}

absl::Status CudaBackend::FinishGraphStep() {
  const GraphMode mode = graph_mode_;
  graph_mode_ = GraphMode::kEager;
  if (mode == GraphMode::kEager) return absl::OkStatus();
  GraphEntry& g = graphs_[graph_key_];
  if (mode == GraphMode::kWarmup) {
    // Every buffer this shape needs now exists at its size.
    g.warm_generation = buffers_generation_;
    return absl::OkStatus();
  }
  if (mode == GraphMode::kCapture) {
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    cudaError_t inst = cudaErrorUnknown;
    if (end == cudaSuccess && error_.ok()) {
      inst = cudaGraphInstantiate(&exec, graph, 0);
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (end != cudaSuccess || inst != cudaSuccess || !error_.ok()) {
      // The step's ops were recorded, not run: this step fails, and the
      // backend stops capturing (eager steps still work).
      cudaGetLastError();
      options_.cuda_graphs = false;
      const absl::Status s = absl::InternalError(absl::StrFormat(
          "CUDA graph capture of a %d-row decode step failed (%s); CUDA graphs are "
          "now off in this worker (LLM_CUDA_GRAPHS=0 avoids this)",
          std::get<0>(graph_key_),
          !error_.ok() ? std::string(error_.message())
                       : cudaGetErrorString(end != cudaSuccess ? end : inst)));
      error_ = absl::OkStatus();  // not sticky: the next step runs eagerly
      return s;
    }
    g.exec = exec;
    g.exec_generation = buffers_generation_;
  }
  Check(cudaGraphLaunch(g.exec, stream_), "graph launch");
  return error_;
}

void CudaBackend::DestroyGraphs() {
  for (auto& [key, g] : graphs_) {
    if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
  }
  graphs_.clear();
}

}  // namespace llm

#endif  // LLM_HAVE_CUDA
