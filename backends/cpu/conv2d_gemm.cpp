#include "backends/cpu/conv2d_gemm.h"

#include <algorithm>
#include <cstring>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

// Output maps of at most this many pixels take the sgemm route: at 2x2 it wins 2x, at 4x4 the two routes
// were within ~20% of each other once im2col is paid, so those stay on oneDNN. Kernels of one pixel are
// already a GEMM inside oneDNN.
constexpr int64_t kMaxOutputPixels = 4;

struct Geometry {
  int64_t n, ci, h, w, co, kh, kw, ho, wo, stride, pad;
  int64_t rows() const { return n * ho * wo; }   // M: one row per output pixel
  int64_t cols() const { return ci * kh * kw; }  // K: (ci, ky, kx), the oihw weights' row order
};

Geometry geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p.stride, p.padding};
}

// cols[m, (ci, ky, kx)] = x[n, oy*s - p + ky, ox*s - p + kx, ci], 0 in the padding.
void im2col(const Geometry& g, const float* x, float* cols) {
  const int64_t K = g.cols(), taps = g.kh * g.kw;
#pragma omp parallel for schedule(static) if (g.rows() * K > (1 << 15))
  for (int64_t m = 0; m < g.rows(); ++m) {
    const int64_t n = m / (g.ho * g.wo), oy = m / g.wo % g.ho, ox = m % g.wo;
    float* row = cols + m * K;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.stride - g.pad + ky;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.stride - g.pad + kx, tap = ky * g.kw + kx;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) {
          for (int64_t c = 0; c < g.ci; ++c) row[c * taps + tap] = 0.0f;
        } else {
          const float* pixel = x + ((n * g.h + iy) * g.w + ix) * g.ci;
          for (int64_t c = 0; c < g.ci; ++c) row[c * taps + tap] = pixel[c];
        }
      }
    }
  }
}

// dx[n, iy, ix, ci] = sum of dcols over the (m, k) that im2col reads from there. Images are independent,
// so the loop is parallel over n with no write conflicts.
void col2im(const Geometry& g, const float* dcols, float* dx) {
  const int64_t K = g.cols(), taps = g.kh * g.kw, image = g.h * g.w * g.ci;
#pragma omp parallel for schedule(static) if (g.rows() * K > (1 << 15))
  for (int64_t n = 0; n < g.n; ++n) {
    float* dxn = dx + n * image;
    std::fill(dxn, dxn + image, 0.0f);
    for (int64_t oy = 0; oy < g.ho; ++oy)
      for (int64_t ox = 0; ox < g.wo; ++ox) {
        const float* row = dcols + ((n * g.ho + oy) * g.wo + ox) * K;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.stride - g.pad + kx, tap = ky * g.kw + kx;
            if (ix < 0 || ix >= g.w) continue;
            float* pixel = dxn + (iy * g.w + ix) * g.ci;
            for (int64_t c = 0; c < g.ci; ++c) pixel[c] += row[c * taps + tap];
          }
        }
      }
  }
}

Tensor columns(const Geometry& g) { return Tensor::empty({g.rows(), g.cols()}); }

}  // namespace

bool conv_as_gemm(const Shape& x, const Shape& w, const Shape& y) {
  return y[2] * y[3] <= kMaxOutputPixels && w[2] * w[3] > 1 && x[0] > 0 && w[0] > 0 && x[1] > 0;
}

void gemm_conv_forward(const Tensor& x, const Tensor& w, const float* b, const Conv2dParams& p, bool relu, Tensor& y) {
  const Geometry g = geometry(x.shape(), w.shape(), y.shape(), p);
  Tensor cols = columns(g);
  im2col(g, x.data<float>(), cols.data<float>());
  float* yp = y.data<float>();
  // y[M, Co] = cols[M, K] w[Co, K]^T (+ b)
  gemm('N', 'T', g.rows(), g.co, g.cols(), cols.data<float>(), g.cols(), w.data<float>(), g.cols(), 0.0f, yp, g.co);
  if (b || relu) {  // the bias and the ReLU in one pass over y
#pragma omp parallel for schedule(static) if (g.rows() * g.co > (1 << 15))
    for (int64_t m = 0; m < g.rows(); ++m)
      for (int64_t c = 0; c < g.co; ++c) {
        float& v = yp[m * g.co + c];
        if (b) v += b[c];
        if (relu) v = std::max(v, 0.0f);
      }
  }
}

void gemm_conv_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const Geometry g = geometry(dx.shape(), w.shape(), dy.shape(), p);
  Tensor dcols = columns(g);
  // dcols[M, K] = dy[M, Co] w[Co, K]
  gemm('N', 'N', g.rows(), g.cols(), g.co, dy.data<float>(), g.co, w.data<float>(), g.cols(), 0.0f,
       dcols.data<float>(), g.cols());
  col2im(g, dcols.data<float>(), dx.data<float>());
}

void gemm_conv_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, float* db) {
  const Geometry g = geometry(x.shape(), dw.shape(), dy.shape(), p);
  Tensor cols = columns(g);
  im2col(g, x.data<float>(), cols.data<float>());
  const float* dyp = dy.data<float>();
  // dw[Co, K] = dy[M, Co]^T cols[M, K]
  gemm('T', 'N', g.co, g.cols(), g.rows(), dyp, g.co, cols.data<float>(), g.cols(), 0.0f, dw.data<float>(), g.cols());
  if (db) {
    std::fill(db, db + g.co, 0.0f);
    for (int64_t m = 0; m < g.rows(); ++m)
      for (int64_t c = 0; c < g.co; ++c) db[c] += dyp[m * g.co + c];
  }
}

}  // namespace collapse::cpu
