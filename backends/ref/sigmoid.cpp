// Reference sigmoid, in double: exp of a non-positive number only, so neither tail overflows. The
// backward dσ = σ(1 − σ) reads the forward's output.
#include <cmath>

#include "backends/ref/unary.h"
#include "backends/sigmoid.h"

namespace collapse::ref {
namespace {

double stable_sigmoid(double v) {
  if (v >= 0.0) return 1.0 / (1.0 + std::exp(-v));
  const double e = std::exp(v);
  return e / (1.0 + e);
}

void ref_sigmoid_forward(const Tensor& x, Tensor& y) { unary_forward(sigmoid_forward.name, x, y, stable_sigmoid); }

void ref_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  unary_backward(sigmoid_backward.name, dy, y, dx, [](double g, double s) { return g * s * (1.0 - s); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, ref, &ref_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, ref, &ref_sigmoid_backward);

}  // namespace collapse::ref
