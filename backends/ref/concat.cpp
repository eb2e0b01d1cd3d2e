// Reference concatenation along channels (dim 1) of 2-D or 4-D tensors: y = [x0, x1, ...] along C.
#include <string>

#include "backends/kernels.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

// Copies x into the channel slice of y that starts at `first_channel`, through both tensors' strides.
template <class T>
void copy_into_channels(const Tensor& x_t, Tensor& y_t, int64_t first_channel) {
  const Tensor slice = y_t.narrow(1, first_channel, x_t.size(1));
  const T* x = x_t.data<T>();
  T* y = slice.data<T>();
  for_each_offset<2>(x_t.shape(), {x_t.strides(), slice.strides()}, [&](const auto& at) { y[at[1]] = x[at[0]]; });
}

// The concatenation's shape: xs[0]'s shape with the channel counts summed. Every input must agree with
// xs[0] in rank, dtype and every size but the channels.
Shape concat_shape(const ArgCheck& check, const std::vector<Tensor>& xs) {
  check.that(!xs.empty(), "needs at least one input");
  const Tensor& first = xs[0];
  check.float_input(first, "xs[0]");
  check.that(first.dim() == 2 || first.dim() == 4, "inputs must be [N,C] or [N,C,H,W], xs[0] is ", first.str());
  Shape out = first.shape();
  out[1] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string name = "xs[" + std::to_string(i) + "]";
    check.same_dtype(xs[i], name.c_str(), first, "xs[0]");
    check.rank(xs[i], name.c_str(), first.dim());
    Shape expected = first.shape();
    expected[1] = xs[i].size(1);  // any channel count
    check.shape(xs[i], name.c_str(), expected, "all sizes but the channels must match xs[0] " + first.str());
    out[1] += xs[i].size(1);
  }
  return out;
}

void ref_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  const ArgCheck check(concat_channels_forward.name);
  const Shape out = concat_shape(check, xs);
  check.same_dtype(y, "y", xs[0], "xs[0]");
  check.shape(y, "y", out, "the inputs stacked along dim 1");
  dispatch_float(concat_channels_forward.name, y.dtype(), [&](auto tag) {
    int64_t first_channel = 0;
    for (const Tensor& x : xs) {
      copy_into_channels<decltype(tag)>(x, y, first_channel);
      first_channel += x.size(1);
    }
  });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(concat_channels_forward, ref, &ref_concat_channels_forward);

}  // namespace collapse::ref
