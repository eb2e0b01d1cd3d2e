#pragma once
// Helpers shared by the kernel, backend and layer tests: random tensors, error measures, closeness
// expectations, central finite differences and error-message expectations. Header-only.
//
// Gradient checks follow one recipe: pick a random r shaped like the output, take the scalar
// loss = sum(y ⊙ r) (so dL/dy = r), run the backward kernel with dy = r, and compare what it returns with
// numerical_gradient(loss, input) for every input:
//
//   auto loss = [&] { forward(x, w, y); return dot(y, r); };
//   backward(r, w, dx);
//   expect_gradient_matches(loss, x, dx, 1e-6, "dx");
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace collapse::testing {

// Storage offsets (in elements, from raw_data()) of every logical index of t, in row-major logical order:
// element i of to_double_vector() lives at offsets[i].
inline std::vector<int64_t> logical_offsets(const Tensor& t) {
  std::vector<int64_t> offsets;
  offsets.reserve(static_cast<size_t>(t.numel()));
  for_each_offset_pair(t.shape(), t.strides(), t.strides(), [&](int64_t o, int64_t) { offsets.push_back(o); });
  return offsets;
}

// Element access by storage offset for float tensors on the CPU (finite differences perturb in place).
inline double element_at(const Tensor& t, int64_t offset) {
  if (t.dtype() == DType::f64) return t.data<double>()[offset];
  COLLAPSE_CHECK(t.dtype() == DType::f32, "testing::element_at: needs a float tensor, got ", t.str());
  return t.data<float>()[offset];
}
inline void set_element(const Tensor& t, int64_t offset, double value) {
  if (t.dtype() == DType::f64) {
    t.data<double>()[offset] = value;
  } else {
    COLLAPSE_CHECK(t.dtype() == DType::f32, "testing::set_element: needs a float tensor, got ", t.str());
    t.data<float>()[offset] = static_cast<float>(value);
  }
}

// A CPU tensor whose logical elements are values[i] (row-major order), in the requested layout.
inline Tensor tensor_from_values(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f64,
                                 MemoryFormat format = MemoryFormat::contiguous) {
  COLLAPSE_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "testing::tensor_from_values: ",
                 values.size(), " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype, Device::cpu(), format);
  const std::vector<int64_t> offsets = logical_offsets(t);
  for (size_t i = 0; i < values.size(); ++i) set_element(t, offsets[i], values[i]);
  return t;
}

// Uniform values in [lo, hi).
inline Tensor random_tensor(const Shape& shape, DType dtype, Generator& gen,
                            MemoryFormat format = MemoryFormat::contiguous, double lo = -1.0, double hi = 1.0) {
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = gen.uniform(lo, hi);
  return tensor_from_values(values, shape, dtype, format);
}

// Values of magnitude in [margin, 1) with random signs: far from a kink at 0 (ReLU), so a finite
// difference step never crosses it.
inline Tensor random_tensor_away_from_zero(const Shape& shape, DType dtype, Generator& gen,
                                           MemoryFormat format = MemoryFormat::contiguous, double margin = 0.1) {
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = (gen.uniform() < 0.5 ? -1.0 : 1.0) * gen.uniform(margin, 1.0);
  return tensor_from_values(values, shape, dtype, format);
}

// A shuffled ramp: every two values differ by at least `gap`, so a max never changes hands under a
// finite difference step (max-pool gradient checks).
inline Tensor distinct_random_tensor(const Shape& shape, DType dtype, Generator& gen,
                                     MemoryFormat format = MemoryFormat::contiguous, double gap = 0.05) {
  const size_t n = static_cast<size_t>(shape_numel(shape));
  std::vector<double> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = gap * (static_cast<double>(i) - 0.5 * static_cast<double>(n));
  for (size_t i = n; i > 1; --i) std::swap(values[i - 1], values[gen.below(i)]);  // Fisher-Yates
  return tensor_from_values(values, shape, dtype, format);
}

// int64 labels uniform in [0, classes).
inline Tensor random_labels(int64_t n, int64_t classes, Generator& gen) {
  Tensor labels = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) labels.data<int64_t>()[i] = static_cast<int64_t>(gen.below(classes));
  return labels;
}

// sum(a ⊙ b) over logical indices, in double; a and b may have different layouts and dtypes.
inline double dot(const Tensor& a, const Tensor& b) {
  COLLAPSE_CHECK(a.shape() == b.shape(), "testing::dot: shapes differ: ", a.str(), " and ", b.str());
  const std::vector<double> va = a.to_double_vector(), vb = b.to_double_vector();
  return std::inner_product(va.begin(), va.end(), vb.begin(), 0.0);
}

// max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|): the largest difference relative to the tensors'
// scale (not element by element, so entries that are almost 0 do not blow it up). 0 for two zero tensors.
inline double max_rel_error(const Tensor& a, const Tensor& b) {
  COLLAPSE_CHECK(a.shape() == b.shape(), "testing::max_rel_error: shapes differ: ", a.str(), " and ", b.str());
  const std::vector<double> va = a.to_double_vector(), vb = b.to_double_vector();
  double max_diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < va.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(va[i] - vb[i]));
    scale = std::max({scale, std::abs(va[i]), std::abs(vb[i])});
  }
  return scale == 0.0 ? max_diff : max_diff / scale;
}

// Elementwise |a - b| <= atol + rtol * |b| (numpy.allclose with b as the reference), any layouts and dtypes.
// Reports the number of mismatches and the first few.
inline void expect_close(const Tensor& a, const Tensor& b, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what << ": shapes differ: " << a.str() << " vs " << b.str();
  const std::vector<double> va = a.to_double_vector(), vb = b.to_double_vector();
  std::ostringstream first_mismatches;
  int64_t mismatches = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const bool close = std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]);
    if (close) continue;  // NaN anywhere fails the comparison above and lands here
    if (mismatches++ < 5) first_mismatches << "\n  element " << i << ": " << va[i] << " vs " << vb[i];
  }
  EXPECT_EQ(mismatches, 0) << what << ": " << mismatches << " of " << va.size() << " elements differ (rtol " << rtol
                           << ", atol " << atol << "), max relative error " << max_rel_error(a, b)
                           << first_mismatches.str();
}

// Central finite differences of the scalar f() with respect to every element of t:
//   df/dt_i ≈ (f(t + h e_i) - f(t - h e_i)) / 2h.
// f reads t's current values (capture it by reference); t is perturbed in place through its strides and
// restored exactly. Each perturbation bumps t's storage version so caches derived from t (reordered
// weights) refresh. Returns a row-major float64 tensor shaped like t.
inline Tensor numerical_gradient(const std::function<double()>& f, const Tensor& t, double step = 1e-6) {
  const std::vector<int64_t> offsets = logical_offsets(t);
  std::vector<double> gradient(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    const double original = element_at(t, offsets[i]);
    auto value_at = [&](double v) {
      set_element(t, offsets[i], v);
      t.storage()->bump_version();
      return f();
    };
    const double plus = value_at(original + step), minus = value_at(original - step);
    set_element(t, offsets[i], original);
    t.storage()->bump_version();
    gradient[i] = (plus - minus) / (2.0 * step);
  }
  return tensor_from_values(gradient, t.shape());
}

// EXPECTs max_rel_error(analytic, numerical_gradient(f, t)) < tol.
inline void expect_gradient_matches(const std::function<double()>& f, const Tensor& t, const Tensor& analytic,
                                    double tol, const std::string& what, double step = 1e-6) {
  const Tensor numerical = numerical_gradient(f, t, step);
  ASSERT_EQ(analytic.shape(), numerical.shape()) << what;
  const double err = max_rel_error(analytic, numerical);
  EXPECT_LT(err, tol) << what << ": analytic and finite-difference gradients differ (max relative error " << err
                      << ")";
}

// EXPECTs fn() to throw collapse::Error whose message contains every one of `pieces`.
inline void expect_error_containing(const std::function<void()>& fn, const std::vector<std::string>& pieces) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& piece : pieces)
      EXPECT_NE(message.find(piece), std::string::npos) << "error message \"" << message << "\" lacks \"" << piece << "\"";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-collapse exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw; expected a collapse::Error mentioning \"" << (pieces.empty() ? "" : pieces[0]) << "\"";
}

}  // namespace collapse::testing
