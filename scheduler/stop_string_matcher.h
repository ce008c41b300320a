// File: scheduler/stop_string_matcher.h
//
// StopStringMatcher: finds stop strings in a sample's streamed text without
// ever letting one leak. Text arrives in pieces (whole UTF-8 characters from
// the IncrementalDetokenizer); any tail that could be the beginning of a
// stop string is held back until the next piece decides it. On a match the
// text before the stop string is released, the rest (the stop string and
// anything after it) dropped, and stopped() becomes true.
//
// Thread safety: thread-compatible (one per sample).
#ifndef LLM_SCHEDULER_STOP_STRING_MATCHER_H_
#define LLM_SCHEDULER_STOP_STRING_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

namespace llm {

class StopStringMatcher {
 public:
  // REQUIRES: no stop string is empty.
  explicit StopStringMatcher(std::vector<std::string> stops);

  // Appends decoded text; returns the text now safe to emit. Returns "" and
  // ignores the input once stopped().
  std::string Append(std::string_view text);
  // End of the stream: releases what is held back (nothing can match now).
  std::string Flush();

  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of some
  // stop string.
  size_t HeldBackLength() const;

  const std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_STOP_STRING_MATCHER_H_
