// Reference ReLU. The backward is gated by the forward's output: y > 0 exactly where x > 0, and ReLU's
// derivative at 0 is taken as 0.
#include "backends/kernels.h"
#include "backends/ref/unary.h"

namespace collapse::ref {
namespace {

void ref_relu_forward(const Tensor& x, Tensor& y) {
  unary_forward(relu_forward.name, x, y, [](double v) { return v > 0.0 ? v : 0.0; });
}

void ref_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  unary_backward(relu_backward.name, dy, y, dx, [](double g, double out) { return out > 0.0 ? g : 0.0; });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, ref, &ref_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, ref, &ref_relu_backward);

}  // namespace collapse::ref
