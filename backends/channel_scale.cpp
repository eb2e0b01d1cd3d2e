// The argument rules of channel_scale (backends/channel_scale.h), for every backend.
#include "backends/channel_scale.h"

#include "backends/shapes.h"

namespace collapse {
namespace {
// x [N,C,H,W] or [N,C] and s [N,C] in x's dtype and device.
void check_scaled(const ArgCheck& check, const Tensor& x, const Tensor& s) {
  check.float_input(x, "x");
  check.that(x.dim() == 4 || x.dim() == 2, "x is ", x.str(), ", expected [N,C,H,W] or [N,C]");
  check.same_dtype(s, "s", x, "x");
  check.shape(s, "s", {x.size(0), x.size(1)}, "N and C of x");
}
}  // namespace

void check_channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  const ArgCheck check("channel_scale_forward");
  check_scaled(check, x, s);
  check.like(y, "y", x, "x");
}

void check_channel_scale_backward(const Tensor& dy, const Tensor& x, const Tensor& s, Tensor& dx, Tensor& ds) {
  const ArgCheck check("channel_scale_backward");
  check_scaled(check, x, s);
  check.like(dy, "dy", x, "x");
  if (dx.defined()) check.like(dx, "dx", x, "x");
  if (ds.defined()) check.like(ds, "ds", s, "s");
}

}  // namespace collapse
