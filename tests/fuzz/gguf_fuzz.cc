// libFuzzer target for the GGUF reader: any byte string must parse or fail
// with InvalidArgument, never crash or read out of bounds (ASan/UBSan). When
// a file parses, the model config and tensor validation run on it too, and
// every tensor's bytes are touched so an out-of-range data pointer faults.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/gguf.h"
#include "common/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = llm::GgufFile::FromBytes(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) {
    if (!absl::IsInvalidArgument(file.status())) std::abort();
    return 0;
  }
  uint8_t sink = 0;
  for (const llm::GgufTensor& t : (*file)->tensors()) {
    if (t.nbytes > 0) sink ^= t.data[0] ^ t.data[t.nbytes - 1];
    (void)t.row_bytes();
  }
  for (const auto& [key, value] : (*file)->metadata()) {
    (void)(*file)->GetInt(key);
    (void)(*file)->GetFloat(key);
    (void)(*file)->GetString(key);
    (void)(*file)->GetIntArray(key);
  }
  auto config = llm::ModelConfigFromGguf(**file);
  if (config.ok()) (void)llm::ValidateLlamaTensors(**file, *config);
  volatile uint8_t keep = sink;
  (void)keep;
  return 0;
}
