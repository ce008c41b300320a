// File: common/check.h
//
// LLM_CHECK(cond) << "message": aborts with the message when an internal
// invariant is broken. Never for input validation (that returns a Status).
// (The Debian Abseil of this project predates absl/log.)
#ifndef LLM_COMMON_CHECK_H_
#define LLM_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace llm::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    stream_ << file << ":" << line << ": check failed: " << cond << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s\n", stream_.str().c_str());
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace llm::internal

#define LLM_CHECK(cond)  \
  if (cond) {            \
  } else                 \
    ::llm::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#endif  // LLM_COMMON_CHECK_H_
