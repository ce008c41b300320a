// File: kernels/reference/attention_reference.h
//
// Naive float64 causal attention over a contiguous (already gathered) KV,
// the oracle for kernels/cpu/attention.h: the full score row is formed, the
// max subtracted, exponentiated and normalised, all in double.
//
// Thread safety: stateless pure function.
#ifndef LLM_KERNELS_REFERENCE_ATTENTION_REFERENCE_H_
#define LLM_KERNELS_REFERENCE_ATTENTION_REFERENCE_H_

namespace llm::kernels::reference {

// q, out: [num_queries, n_head, head_dim]; k, v: [context_len, n_kv_heads,
// head_dim]. Query i sits at position context_len - num_queries + i and sees
// keys j <= its position; score = q·k * scale + slope[h] * (j - pos)
// (alibi_slopes null: no bias). Query head h uses KV head
// h / (n_head / n_kv_heads). A row with no visible key gets 0.
void Attention(const float* q, const float* k, const float* v,
               int num_queries, int context_len, int n_head, int n_kv_heads,
               int head_dim, double scale, const float* alibi_slopes,
               double* out);

}  // namespace llm::kernels::reference

#endif  // LLM_KERNELS_REFERENCE_ATTENTION_REFERENCE_H_
