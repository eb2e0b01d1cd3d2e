#include "backends/cpu/conv2d_winograd.h"

#include <algorithm>

#include "backends/cpu/onednn_common.h"
#include "core/blocked_layout.h"
#include "core/env_switch.h"

namespace collapse {

namespace {
const EnvSwitch& winograd_switch() {
  static const EnvSwitch s("COLLAPSE_CPU_WINOGRAD", true);
  return s;
}
}  // namespace

bool cpu_winograd_enabled() { return winograd_switch().enabled(); }

namespace cpu {
namespace {

using dnnl::memory;

constexpr int64_t kBlock = 16;  // nChw16c: channels in blocks of 16, each block channels-last

memory::desc blocked_md(const Shape& s) { return memory::desc(dims_of(s), memory::data_type::f32, memory::format_tag::nChw16c); }
const memory::dims kStride{1, 1}, kPadding{1, 1};
constexpr auto kWinograd = dnnl::algorithm::convolution_winograd;

Key winograd_key(const char* op, const Shape& x, const Shape& w, bool bias, bool relu = false) {
  return Key(op) << x << w << int64_t{bias} << int64_t{relu};
}
Shape output_shape(const Shape& x, const Shape& w) { return {x[0], w[0], x[2], x[3]}; }  // 3x3, stride 1, padding 1

// Also the hint the backward passes need (forward_training, because backward follows). relu: a ReLU post-op
// (jit_wino_4x3 takes it).
dnnl::convolution_forward::primitive_desc forward_pd(const Shape& x, const Shape& w, bool bias, bool relu = false) {
  using D = dnnl::convolution_forward::desc;
  const auto kind = dnnl::prop_kind::forward_training;
  const Shape y = output_shape(x, w);
  D d = bias ? D(kind, kWinograd, blocked_md(x), any_weights(w), plain_md({w[0]}), blocked_md(y), kStride, kPadding,
                 kPadding)
             : D(kind, kWinograd, blocked_md(x), any_weights(w), blocked_md(y), kStride, kPadding, kPadding);
  return {d, user_scratchpad_attr(relu), engine()};
}

dnnl::convolution_backward_data::primitive_desc backward_data_pd(const Shape& x, const Shape& w) {
  dnnl::convolution_backward_data::desc d(kWinograd, blocked_md(x), any_weights(w), blocked_md(output_shape(x, w)),
                                          kStride, kPadding, kPadding);
  return {d, user_scratchpad_attr(), engine(), forward_pd(x, w, false)};
}

dnnl::convolution_backward_weights::primitive_desc backward_weights_pd(const Shape& x, const Shape& w, bool bias) {
  using D = dnnl::convolution_backward_weights::desc;
  const memory::desc xb = blocked_md(x), yb = blocked_md(output_shape(x, w));
  D d = bias ? D(kWinograd, xb, any_weights(w), plain_md({w[0]}), yb, kStride, kPadding, kPadding)
             : D(kWinograd, xb, any_weights(w), yb, kStride, kPadding, kPadding);
  return {d, user_scratchpad_attr(), engine(), forward_pd(x, w, bias)};
}

// Whether this machine's oneDNN has Winograd kernels for all three passes of the shape (they need AVX-512,
// and the backward ones an OpenMP build), asked once per shape: a pass must never find out too late.
struct Support {
  bool available;
};
Cache<Support> g_support;

bool kernels_available(const Shape& x, const Shape& w) {
  return g_support
      .get(winograd_key("wino_support", x, w, false),
           [&] {
             try {
               forward_pd(x, w, false);
               backward_data_pd(x, w);
               backward_weights_pd(x, w, false);
               return Support{true};
             } catch (const dnnl::error&) {
               return Support{false};
             }
           })
      .available;
}

// An activation seen as nChw16c: its own buffer when it is channel-blocked already (core/blocked_layout.h)
// or when the two layouts are the same bytes (16 channels), else a reordered copy held in `copy`.
const void* blocked_input(const Tensor& t, Tensor& copy) {
  if (is_blocked(t)) return t.raw_data();
  COLLAPSE_CHECK(t.is_channels_last(), "winograd conv: input ", t.str(), " is not dense channels-last");
  if (t.size(1) == kBlock) return t.raw_data();
  copy = Tensor::empty({t.numel()});
  reorder(fast_md(t.shape()), t.raw_data(), blocked_md(t.shape()), copy.raw_data());
  count_activation_reorder();
  return copy.raw_data();
}

// Where a primitive writes an nChw16c output bound for `out`: out itself when it is channel-blocked or has
// 16 channels, else a copy that finish() moves into the channels-last out.
class BlockedOutput {
 public:
  explicit BlockedOutput(Tensor& out) : out_(out) {
    if (is_blocked(out)) return;
    COLLAPSE_CHECK(out.is_channels_last(), "winograd conv: output ", out.str(), " is not dense channels-last");
    if (out.size(1) != kBlock) copy_ = Tensor::empty({out.numel()});
  }
  void* data() { return copy_.defined() ? copy_.raw_data() : out_.raw_data(); }
  void finish() {
    if (!copy_.defined()) return;
    reorder(blocked_md(out_.shape()), copy_.raw_data(), fast_md(out_.shape()), out_.raw_data());
    count_activation_reorder();
  }

 private:
  Tensor& out_;
  Tensor copy_;
};

struct WinogradEntry {
  Prim prim;
  memory::desc weights_md;
};
Cache<WinogradEntry> g_forward, g_backward_data;

struct WinogradWeightsEntry {
  Prim prim;
  memory::desc dw_md;  // dw in the primitive's format, reordered into the caller's oihw dw
};
Cache<WinogradWeightsEntry> g_backward_weights;

}  // namespace

bool conv_as_winograd(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  const int64_t ci = w[1], co = w[0];
  return cpu_winograd_enabled() && w[2] == 3 && w[3] == 3 && p.stride == 1 && p.padding == 1 && ci % kBlock == 0 &&
         co % kBlock == 0 && std::max(ci, co) >= 2 * kBlock && x[0] > 0 && y == output_shape(x, w) &&
         kernels_available(x, w);
}

void winograd_conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, bool relu, Tensor& y) {
  const Shape xs = logical_shape(x);
  WinogradEntry& e = g_forward.get(winograd_key("wino_fwd", xs, w.shape(), b.defined(), relu), [&] {
    auto pd = forward_pd(xs, w.shape(), b.defined(), relu);
    return WinogradEntry{Prim(pd), pd.weights_desc()};
  });
  Tensor x_copy;
  BlockedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, blocked_input(x, x_copy)},
                  {DNNL_ARG_WEIGHTS, reordered_weights(w, e.weights_md)},
                  {DNNL_ARG_BIAS, data_or_null(b)},
                  {DNNL_ARG_DST, out.data()}});
  out.finish();
}

namespace {

// The two backward passes given dy already in nChw16c (dy_blocked).
void backward_data_from(const void* dy_blocked, const Tensor& w, Tensor& dx) {
  const Shape xs = logical_shape(dx);
  WinogradEntry& e = g_backward_data.get(winograd_key("wino_bwd_data", xs, w.shape(), false), [&] {
    auto pd = backward_data_pd(xs, w.shape());
    return WinogradEntry{Prim(pd), pd.weights_desc()};
  });
  BlockedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dy_blocked},
                  {DNNL_ARG_WEIGHTS, reordered_weights(w, e.weights_md)},
                  {DNNL_ARG_DIFF_SRC, out.data()}});
  out.finish();
}

void backward_weights_from(const Tensor& x, const void* dy_blocked, Tensor& dw, Tensor& db) {
  const bool bias = db.defined();
  const Shape xs = logical_shape(x);
  WinogradWeightsEntry& e = g_backward_weights.get(winograd_key("wino_bwd_weights", xs, dw.shape(), bias), [&] {
    auto pd = backward_weights_pd(xs, dw.shape(), bias);
    return WinogradWeightsEntry{Prim(pd), pd.diff_weights_desc()};
  });
  Tensor x_copy;
  WeightsGradientOutput dw_out(e.dw_md, dw);
  e.prim.execute({{DNNL_ARG_SRC, blocked_input(x, x_copy)},
                  {DNNL_ARG_DIFF_DST, dy_blocked},
                  {DNNL_ARG_DIFF_WEIGHTS, dw_out.data()},
                  {DNNL_ARG_DIFF_BIAS, bias ? db.raw_data() : nullptr}});
  dw_out.finish();
}

}  // namespace

void winograd_conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  Tensor dy_copy;
  backward_data_from(blocked_input(dy, dy_copy), w, dx);
}

void winograd_conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  Tensor dy_copy;
  backward_weights_from(x, blocked_input(dy, dy_copy), dw, db);
}

void winograd_conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db) {
  Tensor dy_copy;
  const void* dy_blocked = blocked_input(dy, dy_copy);  // once for both passes
  backward_data_from(dy_blocked, w, dx);
  backward_weights_from(x, dy_blocked, dw, db);
}

}  // namespace cpu

std::string cpu_winograd_status() {
  if (!cpu_winograd_enabled()) return winograd_switch().status();
  return cpu::kernels_available({1, 32, 8, 8}, {32, 32, 3, 3}) ? "on" : "unavailable";
}

}  // namespace collapse
