// File: scheduler/stop_string_matcher.cc
#include "scheduler/stop_string_matcher.h"

#include <algorithm>
#include <utility>

namespace llm {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops)
    : stops_(std::move(stops)) {}

size_t StopStringMatcher::HeldBackLength() const {
  size_t best = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > best; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

std::string StopStringMatcher::Append(std::string_view text) {
  if (stopped_) return "";
  pending_.append(text);
  if (stops_.empty()) return std::exchange(pending_, "");
  // Earliest match wins: the text before it is all that may be shown.
  size_t match = std::string::npos;
  for (const std::string& stop : stops_) {
    match = std::min(match, pending_.find(stop));
  }
  if (match != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, match);
    pending_.clear();
    return out;
  }
  const size_t keep = HeldBackLength();
  std::string out = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StopStringMatcher::Flush() {
  if (stopped_) return "";
  return std::exchange(pending_, "");
}

}  // namespace llm
