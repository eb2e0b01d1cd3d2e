#include "nc/finite_values.h"

#include <cmath>

namespace collapse::nc {

int64_t first_non_finite(RealPointer values, int64_t count) {
  return values.visit([&](const auto* v) -> int64_t {
    for (int64_t i = 0; i < count; ++i)
      if (!std::isfinite(v[i])) return i;
    return -1;
  });
}

int64_t first_non_finite(const Tensor& values) {
  if (values.dtype() == DType::f64) return first_non_finite(values.data<double>(), values.numel());
  COLLAPSE_CHECK(values.dtype() == DType::f32, "first_non_finite: expected float32 or float64 values");
  return first_non_finite(values.data<float>(), values.numel());
}

}  // namespace collapse::nc
