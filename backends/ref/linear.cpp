// Reference fully connected layer (PyTorch's nn.Linear): x [N,K], w [M,K], b [M], y [N,M] = x wᵀ + b.
// Dot products accumulate in double.
#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

struct LinearSizes {
  int64_t N, K, M;
};

// Sizes from x [N,K] and w [M,K] (checked by Kernel::check before the kernel runs).
LinearSizes linear_sizes(const Tensor& x, const Tensor& w) {
  return {x.size(0), x.size(1), w.size(0)};
}

template <class T>
void linear(const LinearSizes& s, const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, Tensor& y_t) {
  View2<const T> x(x_t), w(w_t);
  View2<T> y(y_t);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t m = 0; m < s.M; ++m) {
      double sum = b_t.defined() ? static_cast<double>(View1<const T>(b_t)(m)) : 0.0;
      for (int64_t k = 0; k < s.K; ++k) sum += static_cast<double>(x(n, k)) * w(m, k);
      y(n, m) = static_cast<T>(sum);
    }
}

// dx [N,K] = dy [N,M] · w [M,K]
template <class T>
void linear_grad_input(const LinearSizes& s, const Tensor& dy_t, const Tensor& w_t, Tensor& dx_t) {
  View2<const T> dy(dy_t), w(w_t);
  View2<T> dx(dx_t);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      double sum = 0.0;
      for (int64_t m = 0; m < s.M; ++m) sum += static_cast<double>(dy(n, m)) * w(m, k);
      dx(n, k) = static_cast<T>(sum);
    }
}

// dw [M,K] = dyᵀ · x;  db [M] = column sums of dy.
template <class T>
void linear_grad_weights(const LinearSizes& s, const Tensor& x_t, const Tensor& dy_t, Tensor& dw_t, Tensor& db_t) {
  View2<const T> x(x_t), dy(dy_t);
  View2<T> dw(dw_t);
  for (int64_t m = 0; m < s.M; ++m)
    for (int64_t k = 0; k < s.K; ++k) {
      double sum = 0.0;
      for (int64_t n = 0; n < s.N; ++n) sum += static_cast<double>(dy(n, m)) * x(n, k);
      dw(m, k) = static_cast<T>(sum);
    }
  if (!db_t.defined()) return;
  View1<T> db(db_t);
  for (int64_t m = 0; m < s.M; ++m) {
    double sum = 0.0;
    for (int64_t n = 0; n < s.N; ++n) sum += dy(n, m);
    db(m) = static_cast<T>(sum);
  }
}

void ref_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const LinearSizes s = linear_sizes(x, w);
  dispatch_float(linear_forward.name, x.dtype(), [&](auto tag) { linear<decltype(tag)>(s, x, w, b, y); });
}

void ref_linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const LinearSizes s = linear_sizes(dx, w);
  dispatch_float(linear_backward_data.name, dy.dtype(), [&](auto tag) { linear_grad_input<decltype(tag)>(s, dy, w, dx); });
}

void ref_linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const LinearSizes s = linear_sizes(x, dw);
  dispatch_float(linear_backward_weights.name, x.dtype(),
                 [&](auto tag) { linear_grad_weights<decltype(tag)>(s, x, dy, dw, db); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(linear_forward, ref, &ref_linear_forward);
COLLAPSE_REGISTER_KERNEL(linear_backward_data, ref, &ref_linear_backward_data);
COLLAPSE_REGISTER_KERNEL(linear_backward_weights, ref, &ref_linear_backward_weights);

}  // namespace collapse::ref
