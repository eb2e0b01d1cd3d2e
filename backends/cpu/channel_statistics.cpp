// Per-channel moments, gradient sums and affine maps on the CPU (backends/channel_statistics.h), over the
// fast layout (channels-last for 4-D, row-major for 2-D: element (m, c) of the M = N·H·W rows at m·C + c).
// Rows are split into one static block per OpenMP thread; each block sums in double and the blocks are
// added in block order, so a given thread count always gives the same bits.
#include <omp.h>

#include <vector>

#include "backends/channel_statistics.h"
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

struct Rows {
  int64_t rows, channels;
};
Rows rows_of(const Tensor& x) { return {x.numel() / x.size(1), x.size(1)}; }

// Per-block partial sums of `fn(row pointer offset, accumulators...)`, then added in block order into `out`
// (`sums` arrays of C doubles each).
template <class Fn>
void reduce_rows(const Rows& r, int sums, const Fn& fn, std::vector<double*> out) {
  const int blocks = r.rows * r.channels > 32768 ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(blocks) * sums * r.channels, 0.0);
#pragma omp parallel for schedule(static) num_threads(blocks) if (blocks > 1)
  for (int b = 0; b < blocks; ++b) {
    double* acc = partial.data() + static_cast<size_t>(b) * sums * r.channels;
    for (int64_t m = r.rows * b / blocks; m < r.rows * (b + 1) / blocks; ++m) fn(m * r.channels, acc);
  }
  for (int s = 0; s < sums; ++s)
    for (int64_t c = 0; c < r.channels; ++c) {
      double total = 0.0;
      for (int b = 0; b < blocks; ++b) total += partial[(static_cast<size_t>(b) * sums + s) * r.channels + c];
      out[static_cast<size_t>(s)][c] = total;
    }
}

void cpu_channel_moments(const Tensor& x, Tensor& mean, Tensor& m2) {
  const Tensor xin = fast_input(x);
  const float* p = xin.data<float>();
  const Rows r = rows_of(x);
  double* mu = mean.data<double>();
  reduce_rows(r, 1, [&](int64_t at, double* acc) {
    for (int64_t c = 0; c < r.channels; ++c) acc[c] += p[at + c];
  }, {mu});
  for (int64_t c = 0; c < r.channels; ++c) mu[c] /= static_cast<double>(r.rows);
  reduce_rows(r, 1, [&](int64_t at, double* acc) {
    for (int64_t c = 0; c < r.channels; ++c) {
      const double d = p[at + c] - mu[c];
      acc[c] += d * d;
    }
  }, {m2.data<double>()});
}

void cpu_channel_gradient_sums(const Tensor& dy, const Tensor& x, const Tensor& centre, Tensor& sum_dy,
                               Tensor& sum_dy_centred) {
  const Tensor xin = fast_input(x), dyin = fast_input(dy);
  const float* xp = xin.data<float>();
  const float* gp = dyin.data<float>();
  const double* mu = centre.data<double>();
  const Rows r = rows_of(x);
  reduce_rows(r, 2, [&](int64_t at, double* acc) {
    double* centred = acc + r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      const double g = gp[at + c];
      acc[c] += g;
      centred[c] += g * (xp[at + c] - mu[c]);
    }
  }, {sum_dy.data<double>(), sum_dy_centred.data<double>()});
}

void cpu_channel_affine(const Tensor& dy, const Tensor& x, const Tensor& dy_scale, const Tensor& x_scale,
                        const Tensor& shift, Tensor& out) {
  const Tensor xin = fast_input(x);
  const Tensor dyin = dy.defined() ? fast_input(dy) : Tensor();
  StagedOutput staged(out);
  const float* xp = xin.data<float>();
  const float* gp = dy.defined() ? dyin.data<float>() : nullptr;
  const double* a = dy.defined() ? dy_scale.data<double>() : nullptr;
  const double* b = x_scale.data<double>();
  const double* k = shift.data<double>();
  float* o = staged.data();
  const Rows r = rows_of(x);
#pragma omp parallel for schedule(static) if (r.rows * r.channels > 32768)
  for (int64_t m = 0; m < r.rows; ++m) {
    const int64_t at = m * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      const double v = b[c] * xp[at + c] + k[c];
      o[at + c] = static_cast<float>(gp ? a[c] * gp[at + c] + v : v);
    }
  }
  staged.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(channel_moments, cpu, &cpu_channel_moments);
COLLAPSE_REGISTER_KERNEL(channel_gradient_sums, cpu, &cpu_channel_gradient_sums);
COLLAPSE_REGISTER_KERNEL(channel_affine, cpu, &cpu_channel_affine);

}  // namespace collapse::cpu
