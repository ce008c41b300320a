// File: scheduler/utf8_sanitize.h
//
// SanitizeUtf8: protobuf `string` fields must hold valid UTF-8 (proto3
// parsers in C++ and Python reject anything else), but a single token's bytes
// can be part of a character. Invalid bytes become U+FFFD.
//
// Thread safety: a pure function.
#ifndef LLM_SCHEDULER_UTF8_SANITIZE_H_
#define LLM_SCHEDULER_UTF8_SANITIZE_H_

#include <string>
#include <string_view>

namespace llm {

// `text` with every byte that is not part of a well-formed UTF-8 sequence
// (RFC 3629: no overlongs, surrogates or values above U+10FFFF) replaced by
// U+FFFD.
std::string SanitizeUtf8(std::string_view text);

}  // namespace llm

#endif  // LLM_SCHEDULER_UTF8_SANITIZE_H_
