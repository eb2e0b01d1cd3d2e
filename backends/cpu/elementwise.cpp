// add / axpy / scale: OpenMP loops over the output's dense layout. Dense operands in that layout are read
// with one flat loop (element i of every operand is the same logical element, and the loop vectorises).
// add and axpy also read "row-strided" operands in place: rows of unit-stride elements a fixed stride apart
// in the output's element order, such as a channel slice x.narrow(1, start, c) of a channels-last [N,C,H,W]
// tensor (N*H*W rows of c floats, row stride C) or of a row-major [N,C] one (N rows). That is what the
// autograd engine sums when concat_channels hands each input its slice of dy as a view. Any other layout
// is copied into the output's layout first (in_format).
#include <optional>
#include <type_traits>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// No `simd` clause: GCC 12 then keeps the lambda call per element and runs 5x slower than the plain loop,
// which it vectorises by itself once the lambda is inlined.
template <class F>
void parallel_for(int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Rows of `rows` x `len` elements: element (r, j) at r * stride + j, in a dense tensor's element order.
struct Rows {
  int64_t rows, len, stride;
};

// `t` read in the element order of a dense tensor of format `f` (outermost dimension first), as rows of
// unit-stride elements a fixed stride apart; nullopt when its strides are not of that form. A tensor that
// is dense in `f` is one row of numel elements. Size-1 dimensions are ignored.
std::optional<Rows> rows_of(const Tensor& t, MemoryFormat f) {
  // The k-th dimension in memory order, outermost first (no container: this runs on every add and axpy).
  const bool nhwc = t.dim() == 4 && f == MemoryFormat::channels_last;
  auto order = [nhwc](size_t k) -> int64_t {
    constexpr int64_t kNhwc[] = {0, 2, 3, 1};
    return nhwc ? kNhwc[k] : static_cast<int64_t>(k);
  };
  size_t k = static_cast<size_t>(t.dim());
  int64_t len = 1;  // the innermost dimensions that are unit-stride and packed: one row
  for (; k > 0; --k) {
    const int64_t d = order(k - 1);
    if (t.size(d) == 1) continue;
    if (t.strides()[d] != len) break;
    len *= t.size(d);
  }
  int64_t rows = 1, stride = len, next = -1;  // the outer dimensions must collapse into one row stride
  for (; k > 0; --k) {
    const int64_t d = order(k - 1);
    if (t.size(d) == 1) continue;
    if (next < 0) {
      stride = t.strides()[d];
    } else if (t.strides()[d] != next) {
      return std::nullopt;
    }
    rows *= t.size(d);
    next = t.strides()[d] * t.size(d);
  }
  return Rows{rows, len, stride};
}

// The row stride of `t` read as rows of `len` elements in format f's order, or -1 when it cannot be.
int64_t row_stride(const Tensor& t, MemoryFormat f, int64_t len) {
  const std::optional<Rows> r = rows_of(t, f);
  if (!r) return -1;
  if (r->len == len) return r->stride;
  if (r->rows == 1) return len;  // one unit-stride run of numel elements: cut into rows of any length
  return -1;
}

// The row length to read the operands with: that of the first one that is not a single dense run, else
// numel (every operand then is one dense run, or gets copied into one).
int64_t common_row_len(const Tensor& t0, const Tensor& t1, MemoryFormat f) {
  for (const Tensor* t : {&t0, &t1}) {
    const std::optional<Rows> r = rows_of(*t, f);
    if (r && r->rows > 1) return r->len;
  }
  return std::max<int64_t>(t0.numel(), 1);
}

// Calls body(r, len) for rows [0, rows), in parallel when the rows hold more than kParallelGrain elements
// in all. body runs a plain unit-stride inner loop over len elements, which GCC vectorises once the lambda
// is inlined (no `simd` clause here either: see parallel_for). Short rows (a DenseNet's channel slices are
// its growth rate: 3 channels at width 0.25, 12 or 32 at width 1) get len as a compile-time constant, so
// their inner loop unrolls instead of paying a loop per few floats.
template <class F>
void parallel_rows_with(int64_t rows, int64_t len, F body) {
#pragma omp parallel for schedule(static) if (rows * len > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) body(r, len);
}

template <int64_t L, class F>
void parallel_rows_fixed(int64_t rows, F body) {
#pragma omp parallel for schedule(static) if (rows * L > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) body(r, std::integral_constant<int64_t, L>{});
}

template <class F>
void parallel_rows(int64_t rows, int64_t len, F body) {
  switch (len) {
    case 1: return parallel_rows_fixed<1>(rows, body);
    case 2: return parallel_rows_fixed<2>(rows, body);
    case 3: return parallel_rows_fixed<3>(rows, body);
    case 4: return parallel_rows_fixed<4>(rows, body);
    case 6: return parallel_rows_fixed<6>(rows, body);
    case 8: return parallel_rows_fixed<8>(rows, body);
    case 12: return parallel_rows_fixed<12>(rows, body);
    case 16: return parallel_rows_fixed<16>(rows, body);
    case 24: return parallel_rows_fixed<24>(rows, body);
    case 32: return parallel_rows_fixed<32>(rows, body);
    default: return parallel_rows_with(rows, len, body);
  }
}

MemoryFormat format_of(const Tensor& out) {
  if (out.is_contiguous()) return MemoryFormat::contiguous;
  if (out.is_channels_last()) return MemoryFormat::channels_last;
  return fast_format(out.shape());  // a strided view: computed densely, then copied in
}

void cpu_add(const Tensor& a, const Tensor& b, Tensor& y) {
  const MemoryFormat f = format_of(y);
  const int64_t n = y.numel();
  const int64_t len = common_row_len(a, b, f);
  int64_t sa = row_stride(a, f, len), sb = row_stride(b, f, len);
  // An operand that cannot be read in place is copied into the output's layout (dense: stride len).
  const Tensor ai = sa < 0 ? in_format(a, f) : a, bi = sb < 0 ? in_format(b, f) : b;
  if (sa < 0) sa = len;
  if (sb < 0) sb = len;
  StagedOutput out(y, f);
  const float *pa = ai.data<float>(), *pb = bi.data<float>();
  float* py = out.data();
  if (sa == len && sb == len) {
    parallel_for(n, [=](int64_t i) { py[i] = pa[i] + pb[i]; });
  } else if (n > 0) {
    parallel_rows(n / len, len, [=](int64_t r, auto row_len) {
      const float *ar = pa + r * sa, *br = pb + r * sb;
      float* yr = py + r * row_len;
      for (int64_t j = 0; j < row_len; ++j) yr[j] = ar[j] + br[j];
    });
  }
  out.finish();
  y.storage()->bump_version();
}

void cpu_axpy(double alpha, const Tensor& x, Tensor& acc) {
  const MemoryFormat f = format_of(acc);
  const int64_t n = acc.numel();
  const std::optional<Rows> rx = rows_of(x, f);
  const int64_t len = rx && rx->rows > 1 ? rx->len : std::max<int64_t>(n, 1);
  int64_t sx = rx ? (rx->len == len ? rx->stride : len) : -1;  // rows_of's single run is dense
  const Tensor xi = sx < 0 ? in_format(x, f) : x;
  if (sx < 0) sx = len;
  StagedOutput out(acc, f, /*read_too=*/true);
  const float* px = xi.data<float>();
  float* pacc = out.data();
  const float a = static_cast<float>(alpha);
  if (sx == len) {
    parallel_for(n, [=](int64_t i) { pacc[i] += a * px[i]; });
  } else if (n > 0) {
    parallel_rows(n / len, len, [=](int64_t r, auto row_len) {
      const float* xr = px + r * sx;
      float* accr = pacc + r * row_len;
      for (int64_t j = 0; j < row_len; ++j) accr[j] += a * xr[j];
    });
  }
  out.finish();
  acc.storage()->bump_version();
}

void cpu_scale(double alpha, const Tensor& x, Tensor& y) {
  const MemoryFormat f = format_of(y);
  const Tensor xi = in_format(x, f);
  StagedOutput out(y, f);
  const float* px = xi.data<float>();
  float* py = out.data();
  const float a = static_cast<float>(alpha);
  parallel_for(y.numel(), [=](int64_t i) { py[i] = a * px[i]; });
  out.finish();
  y.storage()->bump_version();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(add_forward, cpu, &cpu_add);
COLLAPSE_REGISTER_KERNEL(axpy, cpu, &cpu_axpy);
COLLAPSE_REGISTER_KERNEL(scale, cpu, &cpu_scale);

}  // namespace collapse::cpu
