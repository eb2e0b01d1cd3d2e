// Batch norm, and batch norm (+ residual) + ReLU fused, in OpenMP loops of our own rather than oneDNN's
// primitives: oneDNN 2.6 runs its fused primitive as JIT code only when the channel count suits its vector
// width, and otherwise falls back to a plain C++ implementation several times slower than the two unfused
// ops (DenseNet's channel counts, multiples of the growth rate k = 12 scaled by the width, mostly are
// such); its plain batch norm on [N,C] input (VGG's BatchNorm1d head, [128, 1024]) took 1.1 ms per call
// where these loops take 0.2 ms. These loops are as fast for any channel count and layout. The fused
// backward masks dy by y > 0 when given y (with a residual), and otherwise recomputes the mask from x
// (no workspace either way). The plain kernels are the fused ones without the ReLU.
//
// Layout: activations in the fast layout (channels innermost), so flat element i is channel i % C. The loops
// walk "periods" of P elements, P a multiple of both C and 16 and at least 256, in which position j is
// always channel j % C: per-channel coefficients are repeated over a period and sums kept per position, so
// every inner loop is a long unit-stride one that vectorises whatever C is. An input x that is a channel
// slice of a wider channels-last tensor (the concatenation DenseNet's block buffer hands out) is not
// copied: each pass gathers a period's rows into a small per-thread buffer (InputX). A channel-blocked x
// (core/blocked_layout.h: a Winograd convolution's output, handed over by layers' conv_bn_relu) is read in
// place 16 channels at a time, its dx written blocked too (and y and dy blocked or not), in the same
// periods and positions as the channels-last x (PeriodX): results are bit-identical to channels-last ones.
// Sums are accumulated in float over a run of periods, then in double (per thread, then folded per channel
// in a fixed order; the reference sums in double throughout). The variance comes from one pass over
// d = x - shift, E[d^2] - E[d]^2, the shift being a value of x in each channel: the cancellation then costs
// few digits even when |mean| is far larger than the standard deviation, and it saves a pass over x.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends/cpu/onednn_common.h"
#include "core/blocked_layout.h"

// Before a loop: no iteration reads what another writes (GCC may vectorise without proving it). Nothing
// under clang (the sanitizer build): its hint warns wherever the sanitized code cannot be vectorised.
#if defined(__clang__)
#define COLLAPSE_NO_LOOP_CARRIED_DEPENDENCE
#else
#define COLLAPSE_NO_LOOP_CARRIED_DEPENDENCE _Pragma("GCC ivdep")
#endif

namespace collapse::cpu {
namespace {

struct BnShape {
  Shape x;
  int64_t channels;
  int64_t count;  // values per channel: N*H*W
};

// x is a float32 [N,C] or [N,C,H,W] on the CPU (checked by Kernel::check).
BnShape bn_shape(const Tensor& x) {
  const Shape s = logical_shape(x);
  return {s, s[1], x.numel() / std::max<int64_t>(s[1], 1)};
}

// A per-channel vector as a dense array (undefined stays undefined).
Tensor vector_input(const Tensor& t) { return t.defined() ? in_format(t, MemoryFormat::contiguous) : t; }

// PyTorch's update of the (optional) running statistics from the batch mean and biased variance:
// r = (1-m) r + m batch, the running variance taking the unbiased batch variance (count/(count-1)).
void update_running_stats(Tensor& running_mean, Tensor& running_var, const float* mean, const float* var,
                          double momentum, int64_t count) {
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (auto [running, batch, factor] : {std::tuple{&running_mean, mean, 1.0}, {&running_var, var, unbias}}) {
    if (!running->defined()) continue;
    StagedOutput r(*running, MemoryFormat::contiguous, /*read_too=*/true);
    float* rp = r.data();
    for (int64_t c = 0; c < running->numel(); ++c)
      rp[c] = static_cast<float>((1.0 - momentum) * rp[c] + momentum * factor * batch[c]);
    r.finish();
    running->storage()->bump_version();
  }
}

constexpr int64_t kVectorFloats = 16;        // one AVX-512 register, a multiple of the narrower ones
constexpr int64_t kMinPeriod = 256;          // long enough for the loop overhead not to matter
constexpr int64_t kParallelGrain = 1 << 15;  // below this many elements a parallel region costs more

int64_t period_for(int64_t C) {
  if (C == 0) return 0;
  const int64_t base = std::lcm(C, kVectorFloats);
  return base * ((kMinPeriod + base - 1) / base);
}

// The distance between consecutive rows of C channels when x is a channel slice of a wider channels-last
// tensor (DenseNet's block buffer: rows of C values, row_stride > C apart); 0 for any other layout.
int64_t channel_slice_row_stride(const Tensor& x) {
  if ((x.dim() != 2 && x.dim() != 4) || (x.size(1) > 1 && x.strides()[1] != 1)) return 0;
  std::vector<std::pair<int64_t, int64_t>> rows;  // (size, stride) of the other dims, outermost first
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != 1 && x.size(d) > 1) rows.emplace_back(x.size(d), x.strides()[d]);
  if (rows.empty()) return x.size(1);
  const int64_t row = rows.back().second;
  int64_t expected = row;
  for (auto it = rows.rbegin(); it != rows.rend(); expected *= it->first, ++it)
    if (it->second != expected) return 0;
  return row;
}

// x's elements as periods of P, in which position j is always channel j % C, and the other operands'
// elements alike (they are dense, their periods P apart): P is a multiple of C and 16 and at least 256,
// the last period possibly shorter. A dense x is read in place. A channel slice of a wider channels-last
// tensor (rows of C values, row_stride apart) is gathered: each pass copies a period's P / C rows into a
// per-thread buffer and reads them there, so that every inner loop stays P long whatever C is.
struct Periods {
  bool gathered;
  int64_t C, n, P, row_stride;
  Periods(const Tensor& x, int64_t row_stride)
      : gathered(row_stride > x.size(1)), C(logical_shape(x)[1]), n(x.numel()), P(period_for(C)),
        row_stride(row_stride) {}
  int64_t count() const { return P == 0 ? 0 : (n + P - 1) / P; }
  int64_t length(int64_t p) const { return std::min(P, n - p * P); }
  bool parallel() const { return n > kParallelGrain; }
  int threads() const { return parallel() ? omp_get_max_threads() : 1; }
};

// One period's x as the passes read it: body(j, x_j, i) for every position j < length in order, i being
// the element of a dx like x that position j's gradient goes to. Contiguous values (a dense x, or a
// gathered channel slice) are read as one unit-stride run, and i = begin + j. A channel-blocked x
// (core/blocked_layout.h, a Winograd convolution's output) is read in place: the period's rows of C
// channels (one pixel each), each row 16 channels (one vector) at a time from its blocks, and i is the
// element's place in the blocked layout. The positions, and with them every sum, are those of the
// channels-last x, so that results do not depend on the layout.
struct PeriodX {
  const float* values = nullptr;  // contiguous: x_j = values[j]; null when blocked
  int64_t begin = 0;
  const float* blocked = nullptr;  // blocked: the whole tensor
  int64_t first_pixel = 0, C = 0, blocks = 0, pixels_per_image = 0;

  int64_t block_stride() const { return pixels_per_image * kChannelBlock; }
  template <class Body>
  void for_each(int64_t length, Body&& body) const {
    if (values) {
      COLLAPSE_NO_LOOP_CARRIED_DEPENDENCE  // no position's store is read at another position
      for (int64_t j = 0; j < length; ++j) body(j, values[j], begin + j);
      return;
    }
    int64_t q = first_pixel % pixels_per_image, image = first_pixel / pixels_per_image * blocks * block_stride();
    for (int64_t r = 0; r < length / C; ++r, ++q) {
      if (q == pixels_per_image) q = 0, image += blocks * block_stride();
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t i0 = image + b * block_stride() + q * kChannelBlock, j0 = r * C + b * kChannelBlock;
        COLLAPSE_NO_LOOP_CARRIED_DEPENDENCE
        for (int64_t c = 0; c < kChannelBlock; ++c) body(j0 + c, blocked[i0 + c], i0 + c);
      }
    }
  }
};

// x as the kernels read it: dense in the fast layout (a copy only when x is dense in another layout), or a
// channel slice of a wider channels-last tensor (DenseNet's block buffer), gathered period by period.
// Gathering beats both a dense copy of the slice made first (one pass and one parallel region fewer) and
// reading the slice in place one row per period (short inner loops): DenseNet-40, two threads,
// bench-train-step img/s, four alternations each with temporary switches (not in the repository) between
// the versions, 2026-12-05, width 0.25 (6 to 114 channels per batch norm): gathered
// below 64 channels (rows in place above) 944-1022 against copied below 64 920-1008, with one core busy
// 374-383 against 362; gathered at every width 950-1005 against in place from 64 on 944-964; width 1 (24
// to 456 channels) 246-252 against 238-253.
struct InputX {
  Tensor data;
  Periods g;
  bool blocked;
  explicit InputX(const Tensor& x) : InputX(x, channel_slice_row_stride(x)) {}
  const float* ptr() const { return data.data<float>(); }
  // Period p's x: in x itself, or, gathered, in scratch (P floats, the calling thread's own).
  PeriodX at(int64_t p, float* scratch) const {
    if (blocked) return {nullptr, 0, ptr(), p * g.P / g.C, g.C, data.size(1), data.size(2) * data.size(3)};
    if (!g.gathered) return {ptr() + p * g.P, p * g.P};
    const int64_t first_row = p * g.P / g.C, rows = g.length(p) / g.C;
    for (int64_t r = 0; r < rows; ++r) {
      const float* from = ptr() + (first_row + r) * g.row_stride;
      for (int64_t c = 0; c < g.C; ++c) scratch[r * g.C + c] = from[c];
    }
    return {scratch, p * g.P};
  }
  // x's value of channel c at the first pixel.
  float first(int64_t c) const {
    return blocked ? ptr()[c / kChannelBlock * data.size(2) * data.size(3) * kChannelBlock + c % kChannelBlock]
                   : ptr()[c];
  }
  // Gathering buffers for `threads` threads, P floats each (empty when x is dense).
  Tensor scratch(int threads) const { return Tensor::empty({g.gathered ? threads * g.P : 0}); }

 private:
  InputX(const Tensor& x, int64_t slice_row_stride)
      : data(is_blocked(x) || slice_row_stride > x.size(1) ? x : fast_input(x)), g(data, slice_row_stride),
        blocked(is_blocked(x)) {}
};

// fn(begin, x, length) for every period, in parallel: its first element in the dense operands, and x's
// values of the period (a PeriodX).
template <class Fn>
void for_each_period(const InputX& xin, Fn&& fn) {
  const Periods& g = xin.g;
  const Tensor scratch = xin.scratch(g.threads());
#pragma omp parallel for schedule(static) if (g.parallel())
  for (int64_t p = 0; p < g.count(); ++p) {
    float* mine = scratch.numel() ? scratch.data<float>() + omp_get_thread_num() * g.P : nullptr;
    fn(p * g.P, xin.at(p, mine), g.length(p));
  }
}

// Periods summed into float partial sums before they are added to the double accumulators: adding in
// float halves the vector work of the statistics passes, which run near the cache's bandwidth (ResNet18
// width 0.25, 1x32x32, two threads, bench-train-step --profile, three runs, binaries of 55bcc43 against
// dfceb29: batch norm + ReLU forward 10.8 -> 9.0-9.8 ms per step, backward 17.2 -> 15.5-16.1 ms), and a
// float sum of this many terms keeps ~6 of float's 7 digits.
constexpr int64_t kPeriodsPerFloatSum = 16;

// The statistics pass (K per-channel sums) and then one pass over every period, in one parallel region.
// add(begin, x, length, acc) adds a period's terms to acc[k * P + j] (position j), acc being float or
// double. After the barrier the sums need, every thread folds the per-thread accumulators itself (the same
// additions in the same order, so every thread holds the same values) and calls prepare(sums, thread),
// which fills what that thread's pass(begin, x, length, thread) reads (thread 0 also keeps what the
// caller needs afterwards); sums[k * C + c] is the sum over all of channel c. Two parallel regions would
// add a fork and a join, each a wait for a timeslice when another program has one of the cores.
//
// The periods are taken kPeriodsPerFloatSum at a time, each thread summing a run into float partial sums
// and adding those to its double accumulators. When a float partial overflowed (some sum is not finite)
// the pass is redone in double partial sums: a float square or product overflows from ~1.8e19 on, where
// double's would not, and an overflow must not become a variance of infinity and an output of beta. A
// non-finite input gives non-finite sums either way.
template <int K, class Add, class Prepare, class Pass>
void statistics_then_pass(const InputX& xin, Add&& add, Prepare&& prepare, Pass&& pass) {
  const Periods& g = xin.g;
  const int threads = g.threads();
  const int64_t per_thread = K * g.P;
  const Tensor scratch = xin.scratch(threads);
  // Each thread's double accumulators, then each thread's folded sums.
  Tensor storage = Tensor::empty({threads * (per_thread + K * g.C)}, DType::f64);
  Tensor float_partials = Tensor::empty({threads * per_thread}, DType::f32);
  Tensor double_partials = Tensor::empty({threads * per_thread}, DType::f64);
  double* const acc = storage.data<double>();
  const int64_t runs = (g.count() + kPeriodsPerFloatSum - 1) / kPeriodsPerFloatSum;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    double* const mine = acc + t * per_thread;
    double* const sums = acc + threads * per_thread + t * K * g.C;
    float* const gathered = scratch.numel() ? scratch.data<float>() + t * g.P : nullptr;
    auto sum_and_fold = [&](auto* __restrict partial) {
      using Partial = std::decay_t<decltype(*partial)>;
      std::fill(mine, mine + per_thread, 0.0);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < runs; ++r) {
        std::fill(partial, partial + per_thread, Partial{0});
        const int64_t end = std::min(g.count(), (r + 1) * kPeriodsPerFloatSum);
        for (int64_t p = r * kPeriodsPerFloatSum; p < end; ++p) add(p * g.P, xin.at(p, gathered), g.length(p), partial);
        for (int64_t j = 0; j < per_thread; ++j) mine[j] += partial[j];
      }  // the barrier: every thread's accumulators are complete
      std::fill(sums, sums + K * g.C, 0.0);
      for (int u = 0; u < threads; ++u)
        for (int k = 0; k < K; ++k)
          for (int64_t j = 0; j < g.P; ++j) sums[k * g.C + j % g.C] += acc[u * per_thread + k * g.P + j];
    };
    sum_and_fold(float_partials.data<float>() + t * per_thread);
    if (!std::all_of(sums, sums + K * g.C, [](double v) { return std::isfinite(v); })) {
#pragma omp barrier  // every thread takes this branch (the same sums); none may still be folding
      sum_and_fold(double_partials.data<double>() + t * per_thread);
    }
    prepare(static_cast<const double*>(sums), t);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.count(); ++p) pass(p * g.P, xin.at(p, gathered), g.length(p), t);
  }
}

// A per-channel value repeated over a period: out[j] = value(j % C) for j < P.
template <class Value>
void fill_repeated(const Periods& g, float* out, Value&& value) {
  for (int64_t j = 0; j < g.P; ++j) out[j] = static_cast<float>(value(j % g.C));
}

// t[c] = value(c) for a [C] output that may be undefined (a parameter gradient nobody wants).
template <class Value>
void write_per_channel(Tensor& t, int64_t C, Value&& value) {
  if (!t.defined()) return;
  StagedOutput out(t, MemoryFormat::contiguous);
  for (int64_t c = 0; c < C; ++c) out.data()[c] = static_cast<float>(value(c));
  out.finish();
}

// dy where the ReLU's output y is positive, else +0, as a bit mask: GCC 12 leaves a loop with the plain
// `y > 0 ? dy : 0` scalar when the loop also accumulates in double ("control flow in loop").
inline float relu_masked(float dy, float y) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(dy) & (y > 0.0f ? ~0u : 0u));
}

// fn(std::true_type) or fn(std::false_type): one loop compiled with and one without an optional operand,
// so that neither tests for it per element.
template <class Fn>
void with_or_without(bool operand, Fn&& fn) {
  if (operand) fn(std::true_type{});
  else fn(std::false_type{});
}

// The per-channel coefficients of (x - center) * scale + shift, repeated over a period, from float
// statistics and gamma, beta (undefined: 1 and 0): the training forward rounds its batch statistics to
// float (the saved ones) before using them, so that the backward, given those, recomputes exactly the
// forward's pre-activations (no fused multiply-adds, see CMakeLists.txt) and with them the ReLU's mask.
struct CoefficientArrays {
  float *center, *scale, *shift;  // P values each
  void fill(const Periods& g, const float* mean, const float* var, const float* gamma, const float* beta,
            double eps) {
    fill_repeated(g, center, [&](int64_t c) { return mean[c]; });
    fill_repeated(g, scale, [&](int64_t c) { return (gamma ? gamma[c] : 1.0f) / std::sqrt(double{var[c]} + eps); });
    fill_repeated(g, shift, [&](int64_t c) { return beta ? beta[c] : 0.0f; });
  }
  float pre_activation(float x, int64_t j) const { return (x - center[j]) * scale[j] + shift[j]; }
};
// The arrays in storage of their own.
struct Coefficients : CoefficientArrays {
  Tensor storage;
  Coefficients(const Periods& g, const float* mean, const float* var, const float* gamma, const float* beta,
               double eps)
      : storage(Tensor::empty({3 * g.P})) {
    float* a = storage.data<float>();
    center = a, scale = a + g.P, shift = a + 2 * g.P;
    fill(g, mean, var, gamma, beta, eps);
  }
};

// y = (x - center) * scale + shift [+ residual], then max(0, .) when Relu, over the period that starts at
// element `begin` (positions 0 to length - 1; residual is that period's, unused without AddResidual). y is
// the whole output: laid out as x when YLikeX (then position j goes to PeriodX's i), else channels-last
// (a blocked x's plain y: element begin + j).
template <bool Relu, bool AddResidual, bool YLikeX>
void normalize_period(const CoefficientArrays& k, const PeriodX& x, const float* residual, float* y, int64_t begin,
                      int64_t length) {
  x.for_each(length, [&](int64_t j, float xj, int64_t i) {
    float v = k.pre_activation(xj, j);
    if constexpr (AddResidual) v += residual[j];
    y[YLikeX ? i : begin + j] = Relu ? std::max(0.0f, v) : v;
  });
}

// Whether an operand is laid out as x (both channel-blocked or both not): then a period's position j is
// at PeriodX's i in it, else at begin + j (a blocked x with a channels-last y or dy).
bool laid_out_as(const Tensor& t, const Tensor& x) { return is_blocked(t) == is_blocked(x); }

// normalize_period over x with per-channel coefficients known beforehand (eval); residual may be null.
template <bool Relu>
void normalize(const InputX& xin, const float* residual, float* y, bool y_like_x, const CoefficientArrays& k) {
  with_or_without(residual != nullptr, [&](auto add_residual) {
    with_or_without(y_like_x, [&](auto like_x) {
      for_each_period(xin, [&](int64_t begin, const PeriodX& x, int64_t length) {
        normalize_period<Relu, add_residual, like_x>(k, x, add_residual ? residual + begin : nullptr, y, begin,
                                                     length);
      });
    });
  });
}

// The residual (optional) as a dense array in the fast layout, so that its flat element i is x's.
Tensor residual_input(const Tensor& residual) {
  if (!residual.defined()) return residual;
  return fast_input(residual);
}
const float* floats_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

template <bool Relu>
void forward_train(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
                   Tensor& running_mean, Tensor& running_var, double momentum, double eps, Tensor& y,
                   Tensor& save_mean, Tensor& save_var) {
  const BnShape s = bn_shape(x);
  const InputX xin(x);
  const Periods& g = xin.g;
  const Tensor gam = vector_input(gamma), bet = vector_input(beta);
  const Tensor rin = residual_input(residual);
  const double count = static_cast<double>(s.count);

  // sums[c] = sum d, sums[C + c] = sum d^2 with d = x - shift[c], then the mean and the biased variance.
  // The shift, each channel's first value, is within the data's range, so that E[d^2] - E[d]^2 cancels
  // few digits even where |mean| is much larger than the standard deviation. Each thread rounds the
  // statistics to float (the saved ones: see Coefficients) and normalises with its own coefficients.
  Tensor shift_storage = Tensor::empty({g.P});
  float* shift = shift_storage.data<float>();
  fill_repeated(g, shift, [&](int64_t c) { return s.count ? xin.first(c) : 0.0f; });
  StagedOutput out(y), mean_out(save_mean, MemoryFormat::contiguous), var_out(save_var, MemoryFormat::contiguous);
  const int threads = g.threads();
  // Per thread: the float statistics (2 C) and the coefficients (3 P).
  Tensor per_thread = Tensor::empty({threads * (2 * g.C + 3 * g.P)});
  std::vector<CoefficientArrays> coefficients(threads);
  float* y_data = out.get().data<float>();
  const float* residual_data = floats_or_null(rin);
  with_or_without(residual_data != nullptr, [&](auto add_residual) {
    with_or_without(laid_out_as(y, x), [&](auto y_like_x) {
      statistics_then_pass<2>(
          xin,
          [&](int64_t, const PeriodX& x, int64_t length, auto* __restrict acc) {
            using Partial = std::decay_t<decltype(*acc)>;
            x.for_each(length, [&](int64_t j, float xj, int64_t) {  // acc is this thread's own buffer
              const Partial d = static_cast<Partial>(xj) - shift[j];
              acc[j] += d;
              acc[g.P + j] += d * d;
            });
          },
          [&](const double* sums, int t) {
            float* mean_f = per_thread.data<float>() + t * (2 * g.C + 3 * g.P);
            float* var_f = mean_f + g.C;
            for (int64_t c = 0; c < g.C; ++c) {
              const double mean_d = sums[c] / count;
              mean_f[c] = static_cast<float>(shift[c] + mean_d);
              var_f[c] = static_cast<float>(std::max(0.0, sums[g.C + c] / count - mean_d * mean_d));
            }
            CoefficientArrays& k = coefficients[t];
            k.center = var_f + g.C, k.scale = k.center + g.P, k.shift = k.scale + g.P;
            k.fill(g, mean_f, var_f, floats_or_null(gam), floats_or_null(bet), eps);
            if (t == 0) {
              std::copy(mean_f, mean_f + g.C, mean_out.data());
              std::copy(var_f, var_f + g.C, var_out.data());
            }
          },
          [&](int64_t begin, const PeriodX& x, int64_t length, int t) {
            normalize_period<Relu, add_residual, y_like_x>(
                coefficients[t], x, add_residual ? residual_data + begin : nullptr, y_data, begin, length);
          });
    });
  });
  update_running_stats(running_mean, running_var, mean_out.data(), var_out.data(), momentum, s.count);
  out.finish();
  mean_out.finish();
  var_out.finish();
}

template <bool Relu>
void forward_eval(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y) {
  const InputX xin(x);
  const Periods& g = xin.g;
  const Tensor gam = vector_input(gamma), bet = vector_input(beta);
  const Tensor rin = residual_input(residual);
  const Tensor rm = vector_input(running_mean), rv = vector_input(running_var);
  StagedOutput out(y);
  normalize<Relu>(xin, floats_or_null(rin), out.get().data<float>(), laid_out_as(y, x),
                  Coefficients(g, rm.data<float>(), rv.data<float>(), floats_or_null(gam), floats_or_null(bet), eps));
  out.finish();
}

// With g = dy where y > 0 (else 0; g = dy without the ReLU), xhat = (x - mean) * inv_std and M values
// per channel:
//   dbeta = sum g,  dgamma = sum g * xhat,  dx = gamma * inv_std * (g - dbeta / M - xhat * dgamma / M),
// and g itself is the residual's gradient. Without y, the mask comes from the pre-activations recomputed
// from x as the forward computed them (Coefficients): two passes read dy and x only.
template <bool Relu>
void backward(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
              const Tensor& beta, const Tensor& save_mean, const Tensor& save_var, double eps, Tensor& dx,
              Tensor& dresidual, Tensor& dgamma, Tensor& dbeta) {
  const BnShape s = bn_shape(x);
  const InputX xin(x);
  const Periods& g = xin.g;
  const Tensor dyin = is_blocked(dy) ? dy : fast_input(dy), yin = y.defined() ? fast_input(y) : y;
  const Tensor gam = vector_input(gamma), bet = vector_input(beta);
  const Tensor mean = vector_input(save_mean), var = vector_input(save_var);
  const float *dyp = dyin.data<float>(), *yp = floats_or_null(yin);
  const float *mp = mean.data<float>(), *vp = var.data<float>();
  const double count = static_cast<double>(s.count);

  StagedOutput out(dx);
  std::optional<StagedOutput> residual_out;
  if (dresidual.defined()) residual_out.emplace(dresidual);
  float* dxp = out.get().data<float>();
  float* drp = residual_out ? residual_out->get().data<float>() : nullptr;

  const Coefficients k(g, mp, vp, floats_or_null(gam), floats_or_null(bet), eps);
  auto inv_std = [&](int64_t c) { return 1.0 / std::sqrt(double{vp[c]} + eps); };
  // sums[c] = sum g, sums[C + c] = sum g * (x - mean), kept from thread 0 for dgamma and dbeta.
  std::vector<double> sums(2 * g.C);
  auto sum_g_xhat = [&](int64_t c) { return sums[g.C + c] * inv_std(c); };
  const int threads = g.threads();
  Tensor per_thread = Tensor::empty({threads * 2 * g.P});  // each thread's mean_g and slope
  // With a residual, the first pass also stores g (the residual's gradient) and the second reads it back
  // instead of dy and y: one stream over memory fewer.
  // A blocked dy (a blocked x's, for a blocked y) is read at PeriodX's i, like dx.
  with_or_without(yp == nullptr, [&](auto recompute_mask) {
    with_or_without(drp != nullptr, [&](auto store_masked) {
      with_or_without(is_blocked(dy), [&](auto blocked_dy) {
        // Position j of a period: element i of the dense operands, ix of those laid out as x; x its value.
        auto masked_at = [&](int64_t i, int64_t ix, float x, int64_t j) {
          const float d = dyp[blocked_dy ? ix : i];
          if constexpr (!Relu) return d;
          else if constexpr (recompute_mask) return relu_masked(d, k.pre_activation(x, j));
          else return relu_masked(d, yp[i]);
        };
        statistics_then_pass<2>(
            xin,
            [&](int64_t begin, const PeriodX& x, int64_t length, auto* __restrict acc) {
              using Partial = std::decay_t<decltype(*acc)>;
              // acc is this thread's own buffer: no store to it is read by another iteration (GCC cannot
              // prove it against the float inputs and would leave the loop scalar; PeriodX tells it).
              x.for_each(length, [&](int64_t j, float xj, int64_t ix) {
                const float masked = masked_at(begin + j, ix, xj, j);
                if constexpr (store_masked) drp[begin + j] = masked;
                acc[j] += masked;
                acc[g.P + j] += static_cast<Partial>(masked) * (static_cast<Partial>(xj) - k.center[j]);
              });
            },
            [&](const double* thread_sums, int t) {
              float* mean_g = per_thread.data<float>() + t * 2 * g.P;
              float* slope = mean_g + g.P;
              fill_repeated(g, mean_g, [&](int64_t c) { return thread_sums[c] / count; });
              fill_repeated(g, slope,
                            [&](int64_t c) { return inv_std(c) * (thread_sums[g.C + c] * inv_std(c)) / count; });
              if (t == 0) std::copy(thread_sums, thread_sums + 2 * g.C, sums.begin());
            },
            // Reads dy and y (or g) before writing dx at each element, so dx may alias dy. dx is laid out
            // as x (a blocked x has a blocked dx): its element for position j is PeriodX's i.
            [&](int64_t begin, const PeriodX& x, int64_t length, int t) {
              const float* mean_g = per_thread.data<float>() + t * 2 * g.P;
              const float* slope = mean_g + g.P;
              x.for_each(length, [&](int64_t j, float xj, int64_t dx_at) {
                const int64_t i = begin + j;
                float masked;
                if constexpr (store_masked) masked = drp[i];
                else masked = masked_at(i, dx_at, xj, j);
                dxp[dx_at] = k.scale[j] * (masked - mean_g[j] - (xj - k.center[j]) * slope[j]);
              });
            });
      });
    });
  });
  out.finish();
  if (residual_out) residual_out->finish();
  write_per_channel(dgamma, g.C, sum_g_xhat);
  write_per_channel(dbeta, g.C, [&](int64_t c) { return sums[c]; });
}

void cpu_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                  Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var) {
  forward_train<false>(x, Tensor(), gamma, beta, running_mean, running_var, momentum,
                       eps, y, save_mean, save_var);
}

void cpu_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, double eps, Tensor& y) {
  forward_eval<false>(x, Tensor(), gamma, beta, running_mean, running_var, eps, y);
}

void cpu_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                             const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  Tensor no_residual;
  backward<false>(dy, Tensor(), x, gamma, Tensor(), save_mean, save_var, eps, dx, no_residual,
                  dgamma, dbeta);
}

void cpu_batch_norm_relu_forward_train(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                       const Tensor& beta, Tensor& running_mean, Tensor& running_var,
                                       double momentum, double eps, Tensor& y, Tensor& save_mean, Tensor& save_var) {
  forward_train<true>(x, residual, gamma, beta, running_mean, running_var, momentum,
                      eps, y, save_mean, save_var);
}

void cpu_batch_norm_relu_forward_eval(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                      const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                      double eps, Tensor& y) {
  forward_eval<true>(x, residual, gamma, beta, running_mean, running_var, eps, y);
}

void cpu_batch_norm_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& save_mean, const Tensor& save_var, double eps,
                                  Tensor& dx, Tensor& dresidual, Tensor& dgamma, Tensor& dbeta) {
  backward<true>(dy, y, x, gamma, beta, save_mean, save_var, eps, dx, dresidual, dgamma,
                 dbeta);
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(batch_norm_forward_train, cpu, &cpu_batch_norm_forward_train);
COLLAPSE_REGISTER_KERNEL(batch_norm_forward_eval, cpu, &cpu_batch_norm_forward_eval);
COLLAPSE_REGISTER_KERNEL(batch_norm_backward, cpu, &cpu_batch_norm_backward);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_train, cpu, &cpu_batch_norm_relu_forward_train);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_eval, cpu, &cpu_batch_norm_relu_forward_eval);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_backward, cpu, &cpu_batch_norm_relu_backward);

}  // namespace collapse::cpu
