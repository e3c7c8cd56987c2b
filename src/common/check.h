#pragma once
// Always-on invariant checks. A failed check is a bug in dsserve (never a user's mistake):
// it prints file:line, the condition and any streamed values, then aborts.
// User- or environment-caused problems use Status (status.h) instead.
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace ds::detail {
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    msg_ << file << ":" << line << ": check failed: " << cond << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << msg_.str() << std::endl;
    std::abort();
  }
  template <class T>
  CheckFailure& operator<<(const T& v) {
    msg_ << v;
    return *this;
  }

 private:
  std::ostringstream msg_;
};
}  // namespace ds::detail

#define DS_CHECK(cond) \
  if (cond) {          \
  } else               \
    ::ds::detail::CheckFailure(__FILE__, __LINE__, #cond)

#define DS_CHECK_EQ(a, b) DS_CHECK((a) == (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define DS_CHECK_LT(a, b) DS_CHECK((a) < (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define DS_CHECK_LE(a, b) DS_CHECK((a) <= (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
