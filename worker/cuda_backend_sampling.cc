// File: worker/cuda_backend_sampling.cc
//
// CudaBackend::SampleRows (cuda_backend.h): the logit rows are sampled by
// kernels/cuda/sampling.cuh where they were computed, and only one int32
// per row crosses PCIe instead of n_vocab floats (196 KB per row for a
// 49k vocabulary).
#include "worker/cuda_backend.h"

#if LLM_HAVE_CUDA

#include <vector>

#include "kernels/cuda/sampling.cuh"

namespace llm {

absl::Status CudaBackend::SampleRows(const float* logits, int rows, int vocab,
                                     absl::Span<const RowSampling> params,
                                     int32_t* tokens) {
  if (!error_.ok()) return error_;
  // The end of a forward step: a captured or replayed graph runs now.
  if (absl::Status s = FinishGraphStep(); !s.ok()) return s;
  if (rows == 0) return absl::OkStatus();
  if (static_cast<int>(params.size()) != rows) {
    return absl::InvalidArgumentError("one sampling row per logit row");
  }
  std::vector<cuda::DeviceSamplingParams> host(rows);
  for (int i = 0; i < rows; ++i) {
    const RowSampling& p = params[i];
    host[i].temperature = p.temperature;
    host[i].top_k = p.top_k;
    host[i].top_p = p.top_p;
    host[i].min_p = p.min_p;
    host[i].seed = p.seed;
    host[i].step = p.step;
    host[i].sample_index = p.sample_index;
  }
  // [params | tokens], 16-byte aligned.
  const int64_t params_bytes =
      (rows * int64_t{sizeof(cuda::DeviceSamplingParams)} + 15) / 16 * 16;
  if (absl::Status s = Ensure(sample_, params_bytes + rows * int64_t{sizeof(int32_t)});
      !s.ok()) {
    return s;
  }
  auto* d_params = static_cast<cuda::DeviceSamplingParams*>(sample_.ptr);
  auto* d_tokens =
      reinterpret_cast<int32_t*>(static_cast<uint8_t*>(sample_.ptr) + params_bytes);
  Check(cudaMemcpyAsync(d_params, host.data(), rows * sizeof(cuda::DeviceSamplingParams),
                        cudaMemcpyHostToDevice, stream_),
        "sampling params upload");
  if (!error_.ok()) return error_;
  Check(cuda::LaunchSample(logits, rows, vocab, d_params, d_tokens, stream_), "sample");
  if (!error_.ok()) return error_;
  Check(cudaMemcpyAsync(tokens, d_tokens, rows * sizeof(int32_t), cudaMemcpyDeviceToHost,
                        stream_),
        "sampled tokens");
  // Also the end of the forward step (ReadActivations' role): `host` must
  // outlive the upload, and the caller reads `tokens` next.
  Check(cudaStreamSynchronize(stream_), "forward step");
  return error_;
}

}  // namespace llm

#endif  // LLM_HAVE_CUDA
