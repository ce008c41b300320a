#include "scheduler/block_allocator.h"

#include "common/check.h"
#include "absl/strings/str_format.h"

namespace llm {

BlockAllocator::BlockAllocator(int num_blocks) : ref_counts_(num_blocks, 0) {
  free_.reserve(num_blocks);
  // Hand out low ids first.
  for (int i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

absl::StatusOr<std::vector<int32_t>> BlockAllocator::Allocate(int n) {
  if (n < 0 || n > num_free()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "need %d KV blocks, %d free of %d", n, num_free(), num_blocks()));
  }
  std::vector<int32_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  for (int32_t id : out) ref_counts_[id] = 1;
  return out;
}

void BlockAllocator::AddRef(int32_t id) {
  LLM_CHECK(ref_counts_[id] >= 1) << "AddRef on free block " << id;
  ++ref_counts_[id];
}

void BlockAllocator::Release(int32_t id) {
  LLM_CHECK(ref_counts_[id] >= 1) << "double free of block " << id;
  if (--ref_counts_[id] == 0) free_.push_back(id);
}

absl::Status BlockAllocator::CheckInvariants() const {
  std::vector<char> on_free(ref_counts_.size(), 0);
  for (int32_t id : free_) {
    if (id < 0 || id >= num_blocks()) {
      return absl::InternalError(absl::StrFormat("free list holds bad id %d", id));
    }
    if (on_free[id]) {
      return absl::InternalError(absl::StrFormat("block %d freed twice", id));
    }
    on_free[id] = 1;
    if (ref_counts_[id] != 0) {
      return absl::InternalError(
          absl::StrFormat("block %d is free but has ref_count %d", id, ref_counts_[id]));
    }
  }
  for (int id = 0; id < num_blocks(); ++id) {
    if (!on_free[id] && ref_counts_[id] < 1) {
      return absl::InternalError(absl::StrFormat("block %d leaked", id));
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
