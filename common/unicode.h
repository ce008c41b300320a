// File: common/unicode.h
//
// The Unicode helpers the tokenizer needs, with llama.cpp's exact semantics
// (src/unicode.cpp) so that ids match id for id:
//  - Utf8ToCodepoints: lenient decoding; a byte that does not start a
//    well-formed-enough sequence becomes U+FFFD and decoding resumes at the
//    next byte. Like llama.cpp, overlong forms and surrogates are decoded
//    as-is (C0 80 -> U+0000); unlike llama.cpp, which throws (and aborts the
//    process) on sequences decoding above U+10FFFF, those become U+FFFD.
//  - CodepointFlags: general-category group + White_Space, from generated
//    tables (scripts/gen_unicode_tables.py).
//  - GPT-2 byte <-> unicode alphabet.
//
// Thread safety: all functions are thread-safe (tables are built once, on
// first use, under a function-local static).
#ifndef LLM_COMMON_UNICODE_H_
#define LLM_COMMON_UNICODE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llm {

struct CodepointFlags {
  enum : uint16_t {
    kUndefined = 0x01,    // Cn, or outside the text (see pre_tokenizer.cc)
    kNumber = 0x02,       // \p{N}
    kLetter = 0x04,       // \p{L}
    kSeparator = 0x08,    // \p{Z}
    kMark = 0x10,         // \p{M}
    kPunctuation = 0x20,  // \p{P}
    kSymbol = 0x40,       // \p{S}
    kControl = 0x80,      // \p{C} other than Cn
    kWhitespace = 0x100,  // White_Space property (\s)
  };
  uint16_t bits = 0;

  bool is_number() const { return bits & kNumber; }
  bool is_letter() const { return bits & kLetter; }
  bool is_punctuation() const { return bits & kPunctuation; }
  bool is_whitespace() const { return bits & kWhitespace; }
  bool any() const { return bits != 0; }
};

// Flags of one code point; code points above U+10FFFF are kUndefined.
CodepointFlags GetCodepointFlags(uint32_t cpt);

// Lenient UTF-8 decoding (see file comment). Never fails.
std::vector<uint32_t> Utf8ToCodepoints(std::string_view utf8);
// Appends the UTF-8 encoding of `cpt` (REQUIRES: cpt <= 0x10FFFF; surrogates
// are encoded like any other code point, as llama.cpp does).
void AppendUtf8(uint32_t cpt, std::string* out);

// GPT-2 byte-level alphabet: byte -> the UTF-8 of its stand-in code point.
const std::string& ByteToUnicode(uint8_t byte);
// Inverse for one code point; -1 when `cpt` is not in the alphabet.
int UnicodeToByte(uint32_t cpt);

}  // namespace llm

#endif  // LLM_COMMON_UNICODE_H_
