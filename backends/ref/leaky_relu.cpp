// Reference LeakyReLU (the test oracle and every float64 computation). The backward reads the forward's
// input: for a negative slope the sign of y no longer tells which side of 0 x was on.
#include "backends/leaky_relu.h"
#include "backends/ref/unary.h"

namespace collapse::ref {
namespace {

void ref_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) {
  unary_forward(leaky_relu_forward.name, x, y, [slope](double v) { return v > 0.0 ? v : slope * v; });
}

void ref_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  unary_backward(leaky_relu_backward.name, dy, x, dx, [slope](double g, double in) { return in > 0.0 ? g : slope * g; });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, ref, &ref_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, ref, &ref_leaky_relu_backward);

}  // namespace collapse::ref
