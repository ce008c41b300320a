// File: common/incremental_detokenizer.cc
//
// Ill-formed input is replaced the way the Unicode standard recommends
// ("maximal subpart" substitution, also what Python's errors="replace" and
// WHATWG decoders do): each maximal prefix of a well-formed sequence that
// cannot be completed becomes one U+FFFD, and a byte that can start nothing
// becomes one U+FFFD. Because that rule only ever looks forward from a lead
// byte, holding back an incomplete-but-still-valid tail gives exactly the
// same text as decoding the whole stream at once.
#include "common/incremental_detokenizer.h"

#include <cstdint>
#include <string_view>
#include <utility>

namespace llm {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the sequence `lead` starts (Unicode Table 3-7), 0 if none.
int SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // continuation byte, overlong C0/C1, or beyond U+10FFFF
}

// Whether `b` may follow the bytes at position `pos` (>= 1) after `lead`.
// The second byte's range depends on the lead (no overlongs, no
// surrogates, nothing above U+10FFFF); later ones are plain continuations.
bool ValidContinuation(uint8_t lead, int pos, uint8_t b) {
  if (pos == 1) {
    switch (lead) {
      case 0xE0: return b >= 0xA0 && b <= 0xBF;
      case 0xED: return b >= 0x80 && b <= 0x9F;
      case 0xF0: return b >= 0x90 && b <= 0xBF;
      case 0xF4: return b >= 0x80 && b <= 0x8F;
      default: break;
    }
  }
  return b >= 0x80 && b <= 0xBF;
}

// Appends the well-formed text of `bytes` to `out`. A valid but incomplete
// tail is moved to `*held` when `held` is non-null, else replaced.
void Convert(std::string_view bytes, std::string* out, std::string* held) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const uint8_t lead = static_cast<uint8_t>(bytes[i]);
    if (lead < 0x80) {
      out->push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    const int len = SequenceLength(lead);
    if (len == 0) {
      out->append(kReplacement);
      ++i;
      continue;
    }
    int j = 1;
    while (j < len && i + j < n &&
           ValidContinuation(lead, j, static_cast<uint8_t>(bytes[i + j]))) {
      ++j;
    }
    if (j == len) {
      out->append(bytes.substr(i, len));
      i += len;
    } else if (i + j == n && held != nullptr) {
      held->assign(bytes.substr(i));  // < len <= 4 bytes, so at most 3
      return;
    } else {
      out->append(kReplacement);  // the maximal subpart lead..j-1
      i += j;
    }
  }
}

}  // namespace

std::string IncrementalDetokenizer::Append(int32_t id) {
  std::string bytes = std::move(pending_);
  pending_.clear();
  bytes += tokenizer_.TokenBytes(id);
  std::string out;
  out.reserve(bytes.size());
  Convert(bytes, &out, &pending_);
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out;
  Convert(pending_, &out, /*held=*/nullptr);
  pending_.clear();
  return out;
}

}  // namespace llm
