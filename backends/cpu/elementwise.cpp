// add / axpy / scale: flat OpenMP loops. All operands are brought to one dense layout (the output's),
// after which element i of every operand is the same logical element and the loop vectorises.
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

MemoryFormat format_of(const Tensor& out) {
  if (out.is_contiguous()) return MemoryFormat::contiguous;
  if (out.is_channels_last()) return MemoryFormat::channels_last;
  return fast_format(out.shape());  // a strided view: computed densely, then copied in
}

void check_pair(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b) {
  check_f32_cpu(op, name_a, a);
  check_f32_cpu(op, name_b, b);
  check_same_shape(op, name_a, a, name_b, b);
}

void cpu_add(const Tensor& a, const Tensor& b, Tensor& y) {
  const char* op = "add_forward";
  check_pair(op, "a", a, "b", b);
  check_pair(op, "a", a, "output y", y);
  const MemoryFormat f = format_of(y);
  const Tensor ai = in_format(a, f), bi = in_format(b, f);
  StagedOutput out(y, f);
  const float *pa = ai.data<float>(), *pb = bi.data<float>();
  float* py = out.data();
  parallel_for(y.numel(), [=](int64_t i) { py[i] = pa[i] + pb[i]; });
  out.finish();
  y.storage()->bump_version();
}

void cpu_axpy(double alpha, const Tensor& x, Tensor& acc) {
  check_pair("axpy", "x", x, "accumulator acc", acc);
  const MemoryFormat f = format_of(acc);
  const Tensor xi = in_format(x, f);
  StagedOutput out(acc, f, /*read_too=*/true);
  const float* px = xi.data<float>();
  float* pacc = out.data();
  const float a = static_cast<float>(alpha);
  parallel_for(acc.numel(), [=](int64_t i) { pacc[i] += a * px[i]; });
  out.finish();
  acc.storage()->bump_version();
}

void cpu_scale(double alpha, const Tensor& x, Tensor& y) {
  check_pair("scale", "x", x, "output y", y);
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
