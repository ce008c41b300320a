// File: common/unicode.cc

#include "common/unicode.h"

#include <array>
#include <memory>

#include "common/unicode_tables.h"

namespace llm {
namespace {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;
constexpr uint32_t kReplacement = 0xFFFD;

// One byte per code point would not hold the 9 flag bits; uint16 over
// 0x110000 code points is 2.2 MB, built once. Lookups are then O(1), which
// matters because the pre-tokenizer asks for every code point several times.
const std::vector<uint16_t>& FlagTable() {
  static const std::vector<uint16_t>* table = [] {
    auto* t = new std::vector<uint16_t>(kMaxCodepoint + 1, CodepointFlags::kUndefined);
    for (int i = 0; i < kNumCodepointRanges; ++i) {
      const uint32_t first = kCodepointRanges[i].first;
      const uint32_t end = i + 1 < kNumCodepointRanges ? kCodepointRanges[i + 1].first
                                                       : kMaxCodepoint + 1;
      for (uint32_t c = first; c < end && c <= kMaxCodepoint; ++c) {
        (*t)[c] = kCodepointRanges[i].flags;
      }
    }
    return t;
  }();
  return *table;
}

struct ByteMaps {
  std::array<std::string, 256> byte_to_utf8;
  std::array<uint32_t, 256> byte_to_cpt;
};

const ByteMaps& GetByteMaps() {
  static const ByteMaps* maps = [] {
    auto* m = new ByteMaps;
    // Printable Latin-1 bytes stand for themselves; the other 68 map, in
    // increasing byte order, to U+0100 + n (REFERENCE.md §5).
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool keeps = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                         (b >= 0xAE && b <= 0xFF);
      const uint32_t cpt = keeps ? static_cast<uint32_t>(b) : 0x100 + n++;
      m->byte_to_cpt[b] = cpt;
      AppendUtf8(cpt, &m->byte_to_utf8[b]);
    }
    return m;
  }();
  return *maps;
}

}  // namespace

CodepointFlags GetCodepointFlags(uint32_t cpt) {
  if (cpt > kMaxCodepoint) return CodepointFlags{CodepointFlags::kUndefined};
  return CodepointFlags{FlagTable()[cpt]};
}

std::vector<uint32_t> Utf8ToCodepoints(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b0 = byte(i);
    if (b0 < 0x80) {
      out.push_back(b0);
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && cont(i + 1)) {
      out.push_back(((b0 & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu));
      i += 2;
    } else if ((b0 & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
      out.push_back(((b0 & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu));
      i += 3;
    } else if ((b0 & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3) &&
               (((b0 & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12)) <= kMaxCodepoint) {
      out.push_back(((b0 & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) |
                    ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu));
      i += 4;
    } else {
      // Stray continuation byte, bad lead byte, truncated sequence, or (our
      // deviation) a value above U+10FFFF: llama.cpp's U+FFFD-per-byte rule.
      out.push_back(kReplacement);
      i += 1;
    }
  }
  return out;
}

void AppendUtf8(uint32_t cpt, std::string* out) {
  if (cpt <= 0x7F) {
    out->push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out->push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out->push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

const std::string& ByteToUnicode(uint8_t byte) { return GetByteMaps().byte_to_utf8[byte]; }

int UnicodeToByte(uint32_t cpt) {
  // The alphabet is 0x21..0xFF (minus 0x7F..0xA0, 0xAD) and 0x100..0x143.
  static const std::array<int16_t, 0x144>* inverse = [] {
    auto* inv = new std::array<int16_t, 0x144>;
    inv->fill(-1);
    for (int b = 0; b < 256; ++b) (*inv)[GetByteMaps().byte_to_cpt[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return cpt < inverse->size() ? (*inverse)[cpt] : -1;
}

}  // namespace llm
