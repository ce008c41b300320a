// File: common/unicode_tables.h
//
// Generated Unicode property tables (common/unicode_tables.cc, produced by
// scripts/gen_unicode_tables.py). Use common/unicode.h, not these directly.
//
// Thread safety: constant data.
#ifndef LLM_COMMON_UNICODE_TABLES_H_
#define LLM_COMMON_UNICODE_TABLES_H_

#include <cstdint>

namespace llm {

// Code points [first, next range's first) share `flags` (CodepointFlags
// bits). Sorted by `first`; the first range starts at 0 and the last runs to
// U+10FFFF.
struct CodepointRange {
  uint32_t first;
  uint16_t flags;
};

extern const CodepointRange kCodepointRanges[];
extern const int kNumCodepointRanges;
extern const char kUnicodeTablesVersion[];  // e.g. "14.0.0"

}  // namespace llm

#endif  // LLM_COMMON_UNICODE_TABLES_H_
