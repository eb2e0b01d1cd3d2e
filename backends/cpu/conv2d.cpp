// Convolution on the cpu: each pass stages its tensors (channels-last activations described by their real
// strides, oihw weights) and runs one of three routes: im2col + sgemm (conv2d_gemm.h), oneDNN's Winograd
// kernels on nChw16c (conv2d_winograd.h), or oneDNN's direct kernels below, with the weights in the format
// the primitive prefers (reordered once per optimizer step, see reordered_weights).
#include <omp.h>

#include <exception>
#include <string_view>

#include "backends/cpu/conv2d_gemm.h"
#include "backends/cpu/conv2d_split_batch.h"
#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

using dnnl::memory;

// The shapes of one convolution (checked by Kernel::check before any pass runs).
struct ConvShape {
  Shape x, w, y;  // [N,Ci,H,W], [Co,Ci,kh,kw], [N,Co,Ho,Wo]
  Conv2dParams p;
};

Key conv_key(const char* op, const ConvShape& s, bool bias, bool relu = false) {
  return Key(op) << s.x << s.w << s.p.stride << s.p.padding << int64_t{bias} << int64_t{relu};
}

memory::dims strides(const ConvShape& s) { return {s.p.stride, s.p.stride}; }
memory::dims padding(const ConvShape& s) { return {s.p.padding, s.p.padding}; }

// oneDNN 2.6 ranks its brgemm forward kernels (brgconv) first for channels-last input, but with few channels
// on both sides its older direct JIT kernel is faster. Forward 3x3 stride-1 convolutions, batch 128, two
// threads, ms brgconv -> jit: 8->8 at 32x32 2.34 -> 1.84, 16->16 at 32x32 3.89 -> 3.52 (in a ResNet18
// step, where it also runs every backward-data of that shape: 4.6 -> 3.8), 12->3 3.67 -> 2.92, 24->24 12.0
// -> 9.3; from 32 channels on brgconv wins (32->32 at 16x16 3.46 vs 3.91) or ties. (Each primitive timed
// alone, walking oneDNN's candidates with next_impl(); in a step, ONEDNN_VERBOSE=1 bench-train-step shows
// the kernel and time of every call.) Shape-only, hence reproducible. 1x1 kernels were not measured and
// keep oneDNN's choice.
constexpr int64_t kMaxChannelsForDirectJit = 24;

bool prefers_direct_jit(const ConvShape& s) {
  return s.w[2] * s.w[3] > 1 && s.x[1] <= kMaxChannelsForDirectJit && s.y[1] <= kMaxChannelsForDirectJit;
}

bool starts_with(const char* s, const char* prefix) { return std::string_view(s).starts_with(prefix); }

// Also the hint that the backward passes need. forward_training, because backward follows. `relu`: the
// output rectified as it is written (conv2d_relu_forward).
dnnl::convolution_forward::primitive_desc forward_pd(const ConvShape& s, bool bias, bool relu = false) {
  using D = dnnl::convolution_forward::desc;
  const auto kind = dnnl::prop_kind::forward_training;
  const auto alg = dnnl::algorithm::convolution_direct;
  D d = bias ? D(kind, alg, fast_md(s.x), any_weights(s.w), plain_md({s.w[0]}), fast_md(s.y), strides(s), padding(s),
                 padding(s))
             : D(kind, alg, fast_md(s.x), any_weights(s.w), fast_md(s.y), strides(s), padding(s), padding(s));
  if (prefers_direct_jit(s)) {
    // The first of oneDNN's candidates past its brgconv ones, if that is the direct avx512 kernel. A
    // primitive_desc is a handle whose next_impl() moves the shared iterator, so the fallback below is a
    // fresh descriptor (oneDNN's first choice, as on a machine without AVX-512).
    dnnl::convolution_forward::primitive_desc candidate(d, user_scratchpad_attr(relu), engine());
    while (starts_with(candidate.impl_info_str(), "brgconv") && candidate.next_impl()) {
    }
    if (starts_with(candidate.impl_info_str(), "jit:avx512")) return candidate;
  }
  return {d, user_scratchpad_attr(relu), engine()};
}

// A primitive plus the weights format it chose and how it reads the weights.
struct ConvEntry {
  Prim prim;
  memory::desc weights_md;
  WeightsView view = WeightsView::as_is;
};
Cache<ConvEntry> g_forward, g_backward_data;

// Backward-data of a stride-1 convolution is itself a forward convolution: of dy, with the weights flipped
// spatially and their channel roles swapped, padded by k-1-p (dx[ci,i] = sum dy[co,i+p-t] w[co,ci,t]; put
// t' = k-1-t). oneDNN 2.6 runs forward convolutions on its brgemm kernels (brgconv) but backward-data on
// the older jit ones, and has no fast backward-data for the forward's weights format. Measured here on the
// CIFAR ResNet18 shapes (batch 128, one thread): the forward route is 1.3-1.6x faster at 32x32, 16x16 and
// 8x8, but brgconv loses at 4x4 (~330 vs ~210 ms for 512->512), hence the size threshold. (Those shapes now
// run as Winograd; the route serves the stride-1 layers Winograd does not take: 16->16, channel counts
// off the 16-block, DenseNet's.) Strided convolutions would need a dilated dy, so they keep the
// backward-data primitive. The choice depends on the shape only, so results are reproducible.
constexpr int64_t kMinPixelsForForwardRoute = 64;

bool backward_data_as_forward(const ConvShape& s) {
  const int64_t k = s.w[2];
  return s.p.stride == 1 && s.w[3] == k && s.p.padding <= k - 1 && s.x[2] * s.x[3] >= kMinPixelsForForwardRoute;
}

ConvEntry make_backward_data(const ConvShape& s) {
  if (backward_data_as_forward(s)) {
    const ConvShape t{s.y, {s.w[1], s.w[0], s.w[2], s.w[3]}, s.x, {1, s.w[2] - 1 - s.p.padding}};
    auto pd = forward_pd(t, false);
    return ConvEntry{Prim(pd), pd.weights_desc(), WeightsView::flipped_transposed};
  }
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, fast_md(s.x), any_weights(s.w),
                                          fast_md(s.y), strides(s), padding(s), padding(s));
  dnnl::convolution_backward_data::primitive_desc pd(d, user_scratchpad_attr(), engine(), forward_pd(s, false));
  return ConvEntry{Prim(pd), pd.weights_desc()};
}

struct ConvBackwardWeightsEntry {
  Prim prim;
  memory::desc dw_md;  // dw in the primitive's format (see WeightsGradientOutput)
};
Cache<ConvBackwardWeightsEntry> g_backward_weights;

// The direct oneDNN route of each pass; tensors already in the fast layouts (the callers below stage them).
void direct_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& b, bool relu, Tensor& y) {
  ConvEntry& e = g_forward.get(conv_key("conv_fwd", s, b.defined(), relu), [&] {
    auto pd = forward_pd(s, b.defined(), relu);
    return ConvEntry{Prim(pd), pd.weights_desc()};
  });
  e.prim.execute({{DNNL_ARG_SRC, x.raw_data()},
                  {DNNL_ARG_WEIGHTS, reordered_weights(w, e.weights_md)},
                  {DNNL_ARG_BIAS, data_or_null(b)},
                  {DNNL_ARG_DST, y.raw_data()}});
}

void direct_backward_data(const ConvShape& s, const Tensor& dy, const Tensor& w, Tensor& dx) {
  ConvEntry& e = g_backward_data.get(conv_key("conv_bwd_data", s, false), [&] { return make_backward_data(s); });
  const void* weights = reordered_weights(w, e.weights_md, e.view);
  if (e.view == WeightsView::flipped_transposed)
    e.prim.execute({{DNNL_ARG_SRC, dy.raw_data()}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dx.raw_data()}});
  else
    e.prim.execute({{DNNL_ARG_DIFF_DST, dy.raw_data()}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, dx.raw_data()}});
}

dnnl::convolution_backward_weights::primitive_desc backward_weights_pd(const ConvShape& s, bool bias) {
  using D = dnnl::convolution_backward_weights::desc;
  const auto alg = dnnl::algorithm::convolution_direct;
  D d = bias ? D(alg, fast_md(s.x), any_weights(s.w), plain_md({s.w[0]}), fast_md(s.y), strides(s), padding(s),
                 padding(s))
             : D(alg, fast_md(s.x), any_weights(s.w), fast_md(s.y), strides(s), padding(s), padding(s));
  return {d, user_scratchpad_attr(), engine(), forward_pd(s, bias)};
}

}  // namespace

int backward_weights_split(const Shape& x, const Shape& w, int threads) {
  const int64_t weight_bytes = w[0] * w[1] * w[2] * w[3] * static_cast<int64_t>(sizeof(float));
  if (threads < 2 || x[0] % threads != 0 || weight_bytes > kMaxWeightBytesForBatchSplit) return 1;
  return threads;
}

namespace {

struct SplitBatchWeightsEntry {
  TeamPrim prim;       // backward-weights of N/T images, one slot per share
  memory::desc dw_md;  // its gradient's format
};
Cache<SplitBatchWeightsEntry> g_split_backward_weights;

// The minibatch split of backends/cpu/conv2d_split_batch.h.
void split_batch_backward_weights(const ConvShape& s, int threads, const Tensor& x, const Tensor& dy, Tensor& dw,
                                  Tensor& db) {
  ConvShape share = s;
  share.x[0] = share.y[0] = s.x[0] / threads;
  SplitBatchWeightsEntry& e = g_split_backward_weights.get(
      conv_key("conv_bwd_weights_split", s, db.defined()) << int64_t{threads}, [&] {
        OneThreadScope one_thread(true);
        auto pd = backward_weights_pd(share, db.defined());
        return SplitBatchWeightsEntry{TeamPrim(pd, threads), pd.diff_weights_desc()};
      });
  WeightsGradientOutput dw_out(e.dw_md, dw);
  // Shares 1..T-1 write here (each its dw then its db); share 0 writes into the outputs.
  const int64_t dw_floats = static_cast<int64_t>(e.dw_md.get_size() / sizeof(float));
  const int64_t db_floats = db.defined() ? s.w[0] : 0, share_floats = dw_floats + db_floats;
  Tensor partials = Tensor::empty({(threads - 1) * share_floats});
  // Channels-last: each image's values are contiguous, so a share is a pointer offset.
  const int64_t x_share = share.x[0] * share.x[1] * share.x[2] * share.x[3];
  const int64_t dy_share = share.y[0] * share.y[1] * share.y[2] * share.y[3];
  const float* xp = x.data<float>();
  const float* dyp = dy.data<float>();
  float* dw_sum = static_cast<float*>(dw_out.data());
  float* partial = partials.data<float>();  // threads > 1: the caller splits only then
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    // A smaller team than asked for (a nested region gets one thread) runs several shares each.
    for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
      float* dw_t = t == 0 ? dw_sum : partial + (t - 1) * share_floats;
      float* db_t = !db.defined() ? nullptr : t == 0 ? db.data<float>() : partial + (t - 1) * share_floats + dw_floats;
      try {
        e.prim.execute(t, {{DNNL_ARG_SRC, xp + t * x_share},
                           {DNNL_ARG_DIFF_DST, dyp + t * dy_share},
                           {DNNL_ARG_DIFF_WEIGHTS, dw_t},
                           {DNNL_ARG_DIFF_BIAS, db_t}});
      } catch (...) {
#pragma omp critical(collapse_split_backward_weights_error)
        if (!error) error = std::current_exception();
      }
    }
#pragma omp barrier
    // The shares in a fixed order, so the sum does not depend on which thread finished first.
#pragma omp for schedule(static)
    for (int64_t i = 0; i < dw_floats; ++i)
      for (int t = 1; t < threads; ++t) dw_sum[i] += partial[(t - 1) * share_floats + i];
  }
  if (error) std::rethrow_exception(error);
  for (int64_t c = 0; c < db_floats; ++c)
    for (int t = 1; t < threads; ++t) db.data<float>()[c] += partial[(t - 1) * share_floats + dw_floats + c];
  dw_out.finish();
}

void direct_backward_weights(const ConvShape& s, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const int team = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (const int threads = backward_weights_split(s.x, s.w, team); threads > 1)
    return split_batch_backward_weights(s, threads, x, dy, dw, db);
  ConvBackwardWeightsEntry& e = g_backward_weights.get(conv_key("conv_bwd_weights", s, db.defined()), [&] {
    auto pd = backward_weights_pd(s, db.defined());
    return ConvBackwardWeightsEntry{Prim(pd), pd.diff_weights_desc()};
  });
  WeightsGradientOutput dw_out(e.dw_md, dw);
  e.prim.execute({{DNNL_ARG_SRC, x.raw_data()},
                  {DNNL_ARG_DIFF_DST, dy.raw_data()},
                  {DNNL_ARG_DIFF_WEIGHTS, dw_out.data()},
                  {DNNL_ARG_DIFF_BIAS, data_or_null(db)}});
  dw_out.finish();
}

// Each pass stages its arguments into the fast layouts (channels-last activations, oihw
// weights), and runs one of three routes, chosen by the shape (and, for Winograd, by whether this machine's
// oneDNN has the kernel and COLLAPSE_CPU_WINOGRAD allows it): im2col + sgemm for tiny outputs, Winograd
// for 3x3 stride-1 layers with channels in multiples of 16, oneDNN's direct kernels otherwise. route_of is
// that choice (the combined backward below takes Winograd for both passes wherever Winograd applies, also
// on the tiny shapes where the separate passes take gemm).
enum class Route { gemm, winograd, direct };
Route route_of(const ConvShape& s) {
  if (conv_as_gemm(s.x, s.w, s.y)) return Route::gemm;
  if (conv_as_winograd(s.x, s.w, s.y, s.p)) return Route::winograd;
  return Route::direct;
}

// A channel-blocked activation (x, y or dy; core/blocked_layout.h) is the Winograd route's own layout, used
// as it is: only that route takes one (conv2d_runs_blocked, below, says which convolutions run on it).
void require_blocked_route(const ConvShape& s, const Tensor& t) {
  COLLAPSE_CHECK(route_of(s) == Route::winograd, "cpu conv2d: ", t.str(), " is channel-blocked but this ",
                 "convolution does not run on that layout (conv2d_runs_blocked says which do)");
}
// An input activation as the routes read it: blocked as it is, anything else channels-last.
Tensor conv_input(const ConvShape& s, const Tensor& t) {
  if (!is_blocked(t)) return fast_input(t);
  require_blocked_route(s, t);
  return t;
}

// The forward pass, its output rectified where `relu` (conv2d_relu_forward): on the oneDNN routes by a
// post-op, on the gemm route by the loop that adds the bias.
void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, bool relu, Tensor& y) {
  const ConvShape s{logical_shape(x), w.shape(), logical_shape(y), p};
  const Tensor xin = conv_input(s, x), win = in_format(w, MemoryFormat::contiguous);
  const Tensor bin = b.defined() ? in_format(b, MemoryFormat::contiguous) : b;
  if (is_blocked(y)) {  // written in place
    require_blocked_route(s, y);
    return winograd_conv_forward(xin, win, bin, relu, y);
  }
  StagedOutput out(y);
  switch (route_of(s)) {
    case Route::gemm:
      gemm_conv_forward(xin, win, b.defined() ? bin.data<float>() : nullptr, p, relu, out.get());
      break;
    case Route::winograd: winograd_conv_forward(xin, win, bin, relu, out.get()); break;
    case Route::direct: direct_forward(s, xin, win, bin, relu, out.get()); break;
  }
  out.finish();
}

void cpu_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  forward(x, w, b, p, false, y);
}
void cpu_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  forward(x, w, b, p, true, y);
}

void cpu_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ConvShape s{logical_shape(dx), w.shape(), logical_shape(dy), p};
  const Tensor dyin = conv_input(s, dy), win = in_format(w, MemoryFormat::contiguous);
  if (is_blocked(dx)) require_blocked_route(s, dx);
  StagedOutput out(dx);
  switch (route_of(s)) {
    case Route::gemm: gemm_conv_backward_data(dyin, win, p, out.get()); break;
    case Route::winograd: winograd_conv_backward_data(dyin, win, out.get()); break;
    case Route::direct: direct_backward_data(s, dyin, win, out.get()); break;
  }
  out.finish();
}

// dw and the optional db as every route writes them (plain arrays), copied back by finish().
struct WeightGradients {
  StagedOutput dw;
  std::optional<StagedOutput> db;
  Tensor no_bias;
  WeightGradients(Tensor& dw_out, Tensor& db_out) : dw(dw_out, MemoryFormat::contiguous) {
    if (db_out.defined()) db.emplace(db_out, MemoryFormat::contiguous);
  }
  Tensor& bias() { return db ? db->get() : no_bias; }  // undefined when no db is wanted
  void finish() {
    dw.finish();
    if (db) db->finish();
  }
};

void cpu_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db) {
  const ConvShape s{logical_shape(x), dw.shape(), logical_shape(dy), p};
  const Tensor xin = conv_input(s, x), dyin = conv_input(s, dy);
  WeightGradients out(dw, db);
  switch (route_of(s)) {
    case Route::gemm: gemm_conv_backward_weights(xin, dyin, p, out.dw.get(), out.db ? out.db->data() : nullptr); break;
    case Route::winograd: winograd_conv_backward_weights(xin, dyin, out.dw.get(), out.bias()); break;
    case Route::direct: direct_backward_weights(s, xin, dyin, out.dw.get(), out.bias()); break;
  }
  out.finish();
}

// Both passes; on the Winograd route with both gradients wanted, dy is reordered once for the two.
void cpu_conv2d_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                         Tensor& dw, Tensor& db) {
  const ConvShape s{logical_shape(x), w.shape(), logical_shape(dy), p};
  if (!dx.defined() || !dw.defined() || !conv_as_winograd(s.x, s.w, s.y, p)) {
    if (dx.defined()) cpu_conv2d_backward_data(dy, w, p, dx);
    if (dw.defined()) cpu_conv2d_backward_weights(x, dy, p, dw, db);
    return;
  }
  const Tensor xin = conv_input(s, x), dyin = conv_input(s, dy), win = in_format(w, MemoryFormat::contiguous);
  StagedOutput dx_out(dx);  // a blocked dx (a blocked x's) is written in place
  WeightGradients out(dw, db);
  winograd_conv_backward(xin, dyin, win, dx_out.get(), out.dw.get(), out.bias());
  dx_out.finish();
  out.finish();
}

bool cpu_conv2d_runs_blocked(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const Shape xs = logical_shape(x);
  return route_of({xs, w.shape(), conv2d_output_shape(xs, w.shape(), p), p}) == Route::winograd;
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(conv2d_forward, cpu, &cpu_conv2d_forward);
COLLAPSE_REGISTER_KERNEL(conv2d_relu_forward, cpu, &cpu_conv2d_relu_forward);
COLLAPSE_REGISTER_KERNEL(conv2d_runs_blocked, cpu, &cpu_conv2d_runs_blocked);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_data, cpu, &cpu_conv2d_backward_data);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_weights, cpu, &cpu_conv2d_backward_weights);
COLLAPSE_REGISTER_KERNEL(conv2d_backward, cpu, &cpu_conv2d_backward);

}  // namespace collapse::cpu
