#pragma once
// Element counts and byte sizes computed from untrusted headers (IDX dimensions, .mat and .npy shapes,
// safetensors shapes): every product and sum is checked, so a crafted header is an error naming the file
// and field ("<file>: dimensions of 'images' overflow: 65536 x 65536 x 65536 ..."), never a wrapped
// size that passes a check and then reads past a buffer.
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace collapse {

// a * b, both >= 0; `what` names the file and field in the error when it does not fit in int64.
inline int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  COLLAPSE_CHECK(a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &r), what, ": size overflows (", a, " x ", b, ")");
  return r;
}

inline int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  COLLAPSE_CHECK(a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, &r), what, ": size overflows (", a, " + ", b, ")");
  return r;
}

// The product of `extents` (1 for none), each >= 0.
inline int64_t checked_product(const std::vector<int64_t>& extents, const std::string& what) {
  int64_t n = 1;
  for (int64_t e : extents) {
    COLLAPSE_CHECK(e >= 0, what, ": negative extent ", e);
    n = checked_mul(n, e, what);
  }
  return n;
}

}  // namespace collapse
