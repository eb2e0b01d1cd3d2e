// Reference concatenation along channels (dim 1) of 2-D or 4-D tensors: y = [x0, x1, ...] along C.
#include <string>

#include "backends/kernels.h"
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

void ref_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
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
