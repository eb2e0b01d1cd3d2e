#pragma once
// Errors: every failure the framework reports is a collapse::Error whose message says what went wrong and where.
#include <sstream>
#include <stdexcept>
#include <string>

namespace collapse {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A NaN or infinity where training or analysis needs finite numbers (a loss, a parameter, a feature):
// the run has diverged, and nothing computed from it may be reported as a result.
struct NonFiniteError : Error {
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace collapse

// COLLAPSE_CHECK(cond, "op: ", details...) throws collapse::Error with the concatenated message.
#define COLLAPSE_CHECK(cond, ...)                                              \
  do {                                                                         \
    if (!(cond)) throw ::collapse::Error(::collapse::detail::concat(__VA_ARGS__)); \
  } while (0)
#define COLLAPSE_FAIL(...) throw ::collapse::Error(::collapse::detail::concat(__VA_ARGS__))
