// Reference GELU, in double: Φ(x) = erfc(-x / √2) / 2, accurate in both tails (1 + erf would cancel for
// large negative x).
#include <cmath>

#include "backends/gelu.h"
#include "backends/ref/unary.h"

namespace collapse::ref {
namespace {

double normal_cdf(double v) { return 0.5 * std::erfc(-v * M_SQRT1_2); }
double normal_pdf(double v) { return std::exp(-0.5 * v * v) * (M_2_SQRTPI * M_SQRT1_2 * 0.5); }

void ref_gelu_forward(const Tensor& x, Tensor& y) {
  unary_forward(gelu_forward.name, x, y, [](double v) { return v * normal_cdf(v); });
}

void ref_gelu_backward(const Tensor& dy, const Tensor& x, Tensor& dx) {
  unary_backward(gelu_backward.name, dy, x, dx,
                 [](double g, double in) { return g * (normal_cdf(in) + in * normal_pdf(in)); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(gelu_forward, ref, &ref_gelu_forward);
COLLAPSE_REGISTER_KERNEL(gelu_backward, ref, &ref_gelu_backward);

}  // namespace collapse::ref
