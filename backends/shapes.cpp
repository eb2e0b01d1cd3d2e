#include "backends/shapes.h"

#include "backends/dispatch.h"

namespace collapse {

// ---- ArgCheck
void ArgCheck::present(const Tensor& t, const char* name) const { that(t.defined(), name, " is undefined"); }

void ArgCheck::float_input(const Tensor& t, const char* name) const {
  present(t, name);
  that(t.dtype() == DType::f32 || t.dtype() == DType::f64, name, " must be float32 or float64, got ", t.str());
}
void ArgCheck::same_dtype(const Tensor& t, const char* name, const Tensor& like, const char* like_name) const {
  present(t, name);
  that(t.dtype() == like.dtype(), name, " is ", t.str(), " but ", like_name, " is ", like.str(),
       " (dtypes must match)");
  that(t.device() == like.device(), name, " is on ", t.device().str(), " but ", like_name, " is on ",
       like.device().str());
}
void ArgCheck::dtype(const Tensor& t, const char* name, DType expected, const Device& device) const {
  present(t, name);
  that(t.dtype() == expected, name, " is ", t.str(), ", expected ", dtype_name(expected));
  that(t.device() == device, name, " is on ", t.device().str(), ", expected ", device.str());
}
void ArgCheck::rank(const Tensor& t, const char* name, int64_t expected) const {
  that(t.dim() == expected, name, " is ", t.str(), ", expected ", expected, " dimensions");
}
void ArgCheck::fail_shape(const Tensor& t, const char* name, const Shape& expected, const std::string& source) const {
  COLLAPSE_FAIL(op_, ": ", name, " is ", t.str(), ", expected shape ", shape_str(expected), source.empty() ? "" : " (",
                source, source.empty() ? "" : ")");
}
void ArgCheck::like(const Tensor& t, const char* name, const Tensor& model, const char* model_name) const {
  same_dtype(t, name, model, model_name);
  shape(t, name, model.shape(), [&] { return std::string("the shape of ") + model_name; });
}

void ArgCheck::blocked_on_cpu(const Tensor& t, const char* name) const {
  that(t.device().is_cpu() && t.dtype() == DType::f32 && impl_for(t) == Impl::cpu, name, " is the channel-blocked ",
       t.str(), ", which only the cpu backend reads (float32 on the cpu, no reference mode)");
}

void check_elementwise(const ArgCheck& check, const Tensor& x, const char* x_name,
                       std::initializer_list<std::pair<const Tensor*, const char*>> same) {
  check.float_input(x, x_name);
  for (const auto& [t, name] : same) check.like(*t, name, x, x_name);
}

// ---- convolution
std::string Conv2dGeometry::describe(const char* input, const char* weights) const {
  return std::string(input) + " " + shape_str(this->input()) + " convolved by " + weights + " " +
         shape_str(weight()) + ", stride " + std::to_string(p.stride) + ", padding " + std::to_string(p.padding);
}

Conv2dGeometry conv2d_geometry(const ArgCheck& check, const Shape& x, const Shape& w, const Conv2dParams& p) {
  check.that(x.size() == 4, "x must be [N,Ci,H,W], got ", shape_str(x));
  check.that(w.size() == 4, "w must be [Co,Ci,k,k], got ", shape_str(w));
  check.that(w[1] == x[1], "w ", shape_str(w), " expects ", w[1], " input channels but x ", shape_str(x), " has ",
             x[1]);
  check.that(w[2] == w[3], "only square kernels are supported, w is ", shape_str(w));
  check.that(p.stride >= 1 && p.padding >= 0, "stride must be >= 1 and padding >= 0, got stride ", p.stride,
             " padding ", p.padding);
  check.that(w[2] <= x[2] + 2 * p.padding && w[2] <= x[3] + 2 * p.padding, "kernel of w ", shape_str(w),
             " is larger than the padded input x ", shape_str(x), " (padding ", p.padding, ")");
  const int64_t k = w[2];
  return {x[0], x[1], x[2], x[3], w[0], k, conv_out_size(x[2], k, p.stride, p.padding),
          conv_out_size(x[3], k, p.stride, p.padding), p};
}

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return conv2d_geometry(ArgCheck("conv2d"), x, w, p).output();
}

namespace {
// The [N,C,H,W] shape of a convolution's activation (x, y or dy), which may be channel-blocked.
Shape activation_shape(const ArgCheck& check, const Tensor& t, const char* name) {
  if (!is_blocked(t)) return t.shape();
  check.blocked_on_cpu(t, name);
  return unblocked_shape(t.shape());
}
}  // namespace

void check_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  const ArgCheck check("conv2d_forward");
  check.float_input(x, "x");
  check.same_dtype(w, "w", x, "x");
  const Conv2dGeometry g = conv2d_geometry(check, activation_shape(check, x, "x"), w.shape(), p);
  if (b.defined()) {
    check.same_dtype(b, "b", x, "x");
    check.shape(b, "b", {g.Co}, "one bias per output channel of w");
  }
  check.same_dtype(y, "y", x, "x");
  check.that(activation_shape(check, y, "y") == g.output(), "y is ", y.str(), ", expected shape ",
             shape_str(g.output()), " (", g.describe("x", "w"), ")");
}

void check_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ArgCheck check("conv2d_backward_data");
  check.float_input(dy, "dy");
  check.same_dtype(w, "w", dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  const Conv2dGeometry g = conv2d_geometry(check, activation_shape(check, dx, "dx"), w.shape(), p);
  check.that(activation_shape(check, dy, "dy") == g.output(), "dy is ", dy.str(), ", expected shape ",
             shape_str(g.output()), " (", g.describe("dx", "w"), ")");
}

void check_conv2d_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                           Tensor& dw, Tensor& db) {
  COLLAPSE_CHECK(dw.defined() || !db.defined(), "conv2d_backward: db without dw");
  if (dx.defined()) check_conv2d_backward_data(dy, w, p, dx);
  if (dw.defined()) {
    check_conv2d_backward_weights(x, dy, p, dw, db);
    const ArgCheck check("conv2d_backward");
    check.shape(w, "w", dw.shape(), "dw's shape");
  }
}

void check_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db) {
  const ArgCheck check("conv2d_backward_weights");
  check.float_input(x, "x");
  check.same_dtype(dy, "dy", x, "x");
  check.same_dtype(dw, "dw", x, "x");
  const Conv2dGeometry g = conv2d_geometry(check, activation_shape(check, x, "x"), dw.shape(), p);
  check.that(activation_shape(check, dy, "dy") == g.output(), "dy is ", dy.str(), ", expected shape ",
             shape_str(g.output()), " (", g.describe("x", "dw"), ")");
  if (db.defined()) {
    check.same_dtype(db, "db", x, "x");
    check.shape(db, "db", {g.Co}, "one bias per output channel of dw");
  }
}

bool check_conv2d_runs_blocked(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const ArgCheck check("conv2d_runs_blocked");
  check.float_input(x, "x");
  check.same_dtype(w, "w", x, "x");
  conv2d_geometry(check, activation_shape(check, x, "x"), w.shape(), p);
  return false;
}

void check_blocked_copy(const Tensor& x, Tensor& blocked) {
  const ArgCheck check("blocked_copy");
  check.float_input(x, "x");
  check.same_dtype(blocked, "blocked", x, "x");
  check.that(x.dim() == 4 && x.size(1) % kChannelBlock == 0, "x must be [N,C,H,W] with C a multiple of ",
             kChannelBlock, ", got ", x.str());
  check.that(is_blocked(blocked), "blocked must be a channel-blocked [N,C/16,H,W,16] tensor, got ", blocked.str());
  check.blocked_on_cpu(blocked, "blocked");
  check.shape(blocked, "blocked", blocked_shape(x.shape()), "x's shape, blocked");
}

// ---- batch norm (and its fused form): x [N,C] or [N,C,H,W], per-channel tensors [C] in x's dtype
namespace {
// x may be channel-blocked.
void check_channels(const ArgCheck& check, const Tensor& x,
                    std::initializer_list<std::pair<const Tensor*, const char*>> per_channel) {
  check.float_input(x, "x");
  if (is_blocked(x)) check.blocked_on_cpu(x, "x");
  const Shape xs = logical_shape(x);
  check.that(xs.size() == 2 || xs.size() == 4, "x must be [N,C] or [N,C,H,W], got ", x.str());
  for (const auto& [t, name] : per_channel) {
    if (!t) continue;
    check.same_dtype(*t, name, x, "x");
    check.shape(*t, name, {xs[1]}, [&] { return "one value per channel of x " + shape_str(xs); });
  }
}
// Same dtype and device as x and x's [N,C,H,W] or [N,C] shape; channel-blocked only where `may_be_blocked`
// (y and dy: an output kept blocked for a convolution that reads it so), and then exactly as x is.
void check_like_x(const ArgCheck& check, const Tensor& t, const char* name, const Tensor& x,
                  bool may_be_blocked = false) {
  check.same_dtype(t, name, x, "x");
  if (is_blocked(t)) {
    check.that(may_be_blocked && is_blocked(x), name, " is the channel-blocked ", t.str(),
               ": only x and dx, and y and dy of a blocked x, may be");
    check.shape(t, name, x.shape(), "the shape of the blocked x");
    return;
  }
  check.shape(t, name, logical_shape(x), "the shape of x");
}
const Tensor* if_defined(const Tensor& t) { return t.defined() ? &t : nullptr; }

void check_train_forward(const ArgCheck& check, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, double eps, const Tensor& y,
                         const Tensor& save_mean, const Tensor& save_var) {
  check_channels(check, x,
                 {{&gamma, "gamma"}, {&beta, "beta"}, {&running_mean, "running_mean"}, {&running_var, "running_var"},
                  {&save_mean, "save_mean"}, {&save_var, "save_var"}});
  check_like_x(check, y, "y", x, /*may_be_blocked=*/true);
  const int64_t channels = logical_shape(x)[1];
  const int64_t per_channel = x.numel() / std::max<int64_t>(channels, 1);
  check.that(channels == 0 || per_channel > 1, "expected more than 1 value per channel when training, x is ", x.str());
  check.that(eps >= 0.0, "eps must be >= 0, got ", eps);
}
void check_eval_forward(const ArgCheck& check, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        const Tensor& running_mean, const Tensor& running_var, double eps, const Tensor& y) {
  check_channels(check, x,
                 {{&gamma, "gamma"}, {&beta, "beta"}, {&running_mean, "running_mean"}, {&running_var, "running_var"}});
  check_like_x(check, y, "y", x, /*may_be_blocked=*/true);
  check.that(eps >= 0.0, "eps must be >= 0, got ", eps);
}
void check_residual(const ArgCheck& check, const Tensor& residual, const char* name, const Tensor& x) {
  if (residual.defined()) check_like_x(check, residual, name, x);
}

}  // namespace

void check_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, double, double eps, Tensor& y, Tensor& save_mean,
                                    Tensor& save_var) {
  check_train_forward(ArgCheck("batch_norm_forward_train"), x, gamma, beta, running_mean, running_var, eps, y,
                      save_mean, save_var);
}
void check_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y) {
  check_eval_forward(ArgCheck("batch_norm_forward_eval"), x, gamma, beta, running_mean, running_var, eps, y);
}
void check_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const ArgCheck check("batch_norm_backward");
  check_channels(check, x,
                 {{&gamma, "gamma"}, {&save_mean, "save_mean"}, {&save_var, "save_var"}, {if_defined(dgamma), "dgamma"},
                  {if_defined(dbeta), "dbeta"}});
  check_like_x(check, dy, "dy", x, /*may_be_blocked=*/true);
  check.like(dx, "dx", x, "x");
  check.that(eps >= 0.0, "eps must be >= 0, got ", eps);
}

void check_batch_norm_relu_forward_train(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                         const Tensor& beta, Tensor& running_mean, Tensor& running_var, double,
                                         double eps, Tensor& y, Tensor& save_mean, Tensor& save_var) {
  const ArgCheck check("batch_norm_relu_forward_train");
  check_train_forward(check, x, gamma, beta, running_mean, running_var, eps, y, save_mean, save_var);
  check_residual(check, residual, "residual", x);
}
void check_batch_norm_relu_forward_eval(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                        double eps, Tensor& y) {
  const ArgCheck check("batch_norm_relu_forward_eval");
  check_eval_forward(check, x, gamma, beta, running_mean, running_var, eps, y);
  check_residual(check, residual, "residual", x);
}
void check_batch_norm_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& save_mean, const Tensor& save_var, double eps,
                                    Tensor& dx, Tensor& dresidual, Tensor& dgamma, Tensor& dbeta) {
  const ArgCheck check("batch_norm_relu_backward");
  check_channels(check, x,
                 {{&gamma, "gamma"}, {&beta, "beta"}, {&save_mean, "save_mean"}, {&save_var, "save_var"},
                  {if_defined(dgamma), "dgamma"}, {if_defined(dbeta), "dbeta"}});
  check_like_x(check, dy, "dy", x, /*may_be_blocked=*/true);
  check.like(dx, "dx", x, "x");
  check_residual(check, y, "y", x);
  check_residual(check, dresidual, "dresidual", x);
  check.that(eps >= 0.0, "eps must be >= 0, got ", eps);
}

// ---- pooling
std::string Pool2dGeometry::describe(const char* input_name) const {
  return std::string(input_name) + " " + shape_str(input()) + " pooled by kernel " + std::to_string(p.kernel) +
         ", stride " + std::to_string(p.stride) + ", padding " + std::to_string(p.padding);
}

Pool2dGeometry pool2d_geometry(const ArgCheck& check, const Shape& s, const char* x_name, const Pool2dParams& p) {
  check.that(s.size() == 4, x_name, " must be [N,C,H,W], got ", shape_str(s));
  check.that(p.kernel >= 1 && p.stride >= 1 && p.padding >= 0,
             "kernel and stride must be >= 1 and padding >= 0, got kernel ", p.kernel, " stride ", p.stride,
             " padding ", p.padding);
  // As PyTorch: otherwise a window could hold padding only.
  check.that(p.padding <= p.kernel / 2, "padding ", p.padding, " must be at most half the kernel ", p.kernel);
  check.that(p.kernel <= s[2] + 2 * p.padding && p.kernel <= s[3] + 2 * p.padding, "kernel ", p.kernel,
             " is larger than the padded input ", x_name, " ", shape_str(s), " (padding ", p.padding, ")");
  return {s[0], s[1], s[2], s[3], conv_out_size(s[2], p.kernel, p.stride, p.padding),
          conv_out_size(s[3], p.kernel, p.stride, p.padding), p};
}

Shape pool2d_output_shape(const char* op, const Shape& x, const Pool2dParams& p) {
  return pool2d_geometry(ArgCheck(op), x, "x", p).output();
}

namespace {
// The forward's x and y (or the backward's dx and dy) of one pooling.
void check_pooling(const ArgCheck& check, const Tensor& x, const char* xn, const Tensor& y, const char* yn,
                   const Pool2dParams& p) {
  check.float_input(y, yn);
  check.same_dtype(x, xn, y, yn);
  const Pool2dGeometry g = pool2d_geometry(check, x.shape(), xn, p);
  check.shape(y, yn, g.output(), [&] { return g.describe(xn); });
}
}  // namespace

// The workspace's format is private to the backend that wrote it (argmax indices, oneDNN's bytes): the
// backend checks it.
void check_max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor&) {
  const ArgCheck check("max_pool2d_forward");
  check.float_input(x, "x");
  check_pooling(check, x, "x", y, "y", p);
}
void check_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx) {
  const ArgCheck check("max_pool2d_backward");
  check_pooling(check, dx, "dx", dy, "dy", p);
  check.that(workspace.defined(), "workspace is undefined (run max_pool2d_forward first)");
}
void check_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const ArgCheck check("avg_pool2d_forward");
  check.float_input(x, "x");
  check_pooling(check, x, "x", y, "y", p);
}
void check_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  check_pooling(ArgCheck("avg_pool2d_backward"), dx, "dx", dy, "dy", p);
}

namespace {
void check_global_pool(const ArgCheck& check, const Tensor& x, const char* xn, const Tensor& y, const char* yn) {
  check.float_input(x, xn);
  check.same_dtype(y, yn, x, xn);
  check.rank(x, xn, 4);
  check.that(x.size(2) * x.size(3) > 0, xn, " has an empty plane: ", x.str());
  check.shape(y, yn, {x.size(0), x.size(1)}, [&] { return std::string("[N,C] of ") + xn; });
}
}  // namespace
void check_global_avg_pool_forward(const Tensor& x, Tensor& y) {
  check_global_pool(ArgCheck("global_avg_pool_forward"), x, "x", y, "y");
}
void check_global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const ArgCheck check("global_avg_pool_backward");
  check.float_input(dy, "dy");
  check_global_pool(check, dx, "dx", dy, "dy");
}

// ---- linear: x [N,K], w [M,K], y [N,M]
namespace {
struct LinearSizes {
  int64_t N, K, M;
};
LinearSizes linear_sizes(const ArgCheck& check, const Shape& x, const char* x_name, const Shape& w,
                         const char* w_name) {
  check.that(x.size() == 2, x_name, " must be [N,K], got ", shape_str(x));
  check.that(w.size() == 2, w_name, " must be [M,K], got ", shape_str(w));
  check.that(x[1] == w[1], x_name, " ", shape_str(x), " has ", x[1], " features but ", w_name, " ", shape_str(w),
             " expects ", w[1]);
  return {x[0], x[1], w[0]};
}
void check_linear_bias(const ArgCheck& check, const Tensor& b, const char* name, const Tensor& x, int64_t M,
                       const char* w_name) {
  if (!b.defined()) return;
  check.same_dtype(b, name, x, "x");
  check.shape(b, name, {M}, [&] { return std::string("one bias per row of ") + w_name; });
}
}  // namespace

Shape linear_output_shape(const Shape& x, const Shape& w) {
  const LinearSizes s = linear_sizes(ArgCheck("linear"), x, "x", w, "w");
  return {s.N, s.M};
}

void check_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const ArgCheck check("linear_forward");
  check.float_input(x, "x");
  check.same_dtype(w, "w", x, "x");
  const LinearSizes s = linear_sizes(check, x.shape(), "x", w.shape(), "w");
  check_linear_bias(check, b, "b", x, s.M, "w");
  check.same_dtype(y, "y", x, "x");
  check.shape(y, "y", {s.N, s.M}, "[rows of x, rows of w]");
}
void check_linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const ArgCheck check("linear_backward_data");
  check.float_input(dy, "dy");
  check.same_dtype(w, "w", dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  const LinearSizes s = linear_sizes(check, dx.shape(), "dx", w.shape(), "w");
  check.shape(dy, "dy", {s.N, s.M}, "[rows of dx, rows of w]");
}
void check_linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const ArgCheck check("linear_backward_weights");
  check.float_input(x, "x");
  check.same_dtype(dy, "dy", x, "x");
  check.same_dtype(dw, "dw", x, "x");
  const LinearSizes s = linear_sizes(check, x.shape(), "x", dw.shape(), "dw");
  check.shape(dy, "dy", {s.N, s.M}, "[rows of x, rows of dw]");
  check_linear_bias(check, db, "db", x, s.M, "dw");
}

// ---- elementwise
void check_relu_forward(const Tensor& x, Tensor& y) {
  check_elementwise(ArgCheck("relu_forward"), x, "x", {{&y, "y"}});
}
void check_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  check_elementwise(ArgCheck("relu_backward"), dy, "dy", {{&y, "y"}, {&dx, "dx"}});
}
void check_add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  check_elementwise(ArgCheck("add_forward"), a, "a", {{&b, "b"}, {&y, "y"}});
}
void check_axpy(double, const Tensor& x, Tensor& acc) { check_elementwise(ArgCheck("axpy"), x, "x", {{&acc, "acc"}}); }
void check_scale(double, const Tensor& x, Tensor& y) { check_elementwise(ArgCheck("scale"), x, "x", {{&y, "y"}}); }

// ---- concatenation along dim 1: every input agrees with xs[0] in rank, dtype and every size but the channels.
Shape concat_channels_shape(const std::vector<Tensor>& xs) {
  const ArgCheck check("concat_channels_forward");
  check.that(!xs.empty(), "needs at least one input");
  const Tensor& first = xs[0];
  check.float_input(first, "xs[0]");
  check.that(first.dim() == 2 || first.dim() == 4, "inputs must be [N,C] or [N,C,H,W], xs[0] is ", first.str());
  Shape out = first.shape();
  out[1] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    Shape expected = first.shape();
    expected[1] = xs[i].dim() > 1 ? xs[i].size(1) : -1;  // any channel count
    const bool ok = xs[i].defined() && xs[i].dtype() == first.dtype() && xs[i].device() == first.device() &&
                    xs[i].shape() == expected;
    if (!ok) {  // the name is built for the message only (this runs on every call)
      const std::string name = "xs[" + std::to_string(i) + "]";
      check.same_dtype(xs[i], name.c_str(), first, "xs[0]");
      check.rank(xs[i], name.c_str(), first.dim());
      check.shape(xs[i], name.c_str(), expected,
                  [&] { return "all sizes but the channels must match xs[0] " + first.str(); });
    }
    out[1] += xs[i].size(1);
  }
  return out;
}
void check_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  const Shape out = concat_channels_shape(xs);
  const ArgCheck check("concat_channels_forward");
  check.same_dtype(y, "y", xs[0], "xs[0]");
  check.shape(y, "y", out, "the inputs stacked along dim 1");
}

// ---- cross-entropy
void check_scores_and_labels(const ArgCheck& check, const Tensor& scores, const char* scores_name,
                             const Tensor& labels) {
  check.float_input(scores, scores_name);
  check.rank(scores, scores_name, 2);
  const int64_t N = scores.size(0), C = scores.size(1);
  check.that(N > 0 && C > 0, scores_name, " must have at least one row and one class, got ", scores.str());
  check.that(labels.defined() && labels.dtype() == DType::i64, "labels must be int64, got ", labels.str());
  check.that(labels.device() == scores.device() || labels.device().is_cpu(), "labels are on ", labels.device().str(),
             " but ", scores_name, " on ", scores.device().str());
  check.shape(labels, "labels", {N}, [&] {
    return "one label per row of " + std::string(scores_name) + " " + shape_str(scores.shape());
  });
  if (!labels.device().is_cpu()) return;  // labels on a GPU are range-checked there, by its kernel
  const Tensor dense = labels.contiguous();
  const int64_t* label = dense.data<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    check.that(label[n] >= 0 && label[n] < C, "label ", label[n], " at index ", n, " is out of range [0, ", C, ")");
}

void check_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const ArgCheck check("cross_entropy_forward");
  check_scores_and_labels(check, logits, "logits", labels);
  check.same_dtype(loss, "loss", logits, "logits");
  check.shape(loss, "loss", {1});
  check.like(probs, "probs", logits, "logits");
}
void check_cross_entropy_backward(const Tensor& probs, const Tensor& labels, double, Tensor& dlogits) {
  const ArgCheck check("cross_entropy_backward");
  check_scores_and_labels(check, probs, "probs", labels);
  check.like(dlogits, "dlogits", probs, "probs");
}

// ---- SGD: everything is checked before any parameter moves, so a bad call leaves the model untouched.
void check_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      std::vector<Tensor>& buffers, const SgdParams& p) {
  const ArgCheck check("sgd_update");
  check.that(p.lr >= 0.0 && p.momentum >= 0.0 && p.weight_decay >= 0.0,
             "lr, momentum and weight_decay must be >= 0, got lr ", p.lr, " momentum ", p.momentum, " weight_decay ",
             p.weight_decay);
  check.that(!p.nesterov || p.momentum > 0.0, "nesterov needs a momentum > 0");
  check.that(grads.size() == params.size(), params.size(), " params but ", grads.size(), " grads");
  const bool use_buffers = p.momentum != 0.0;
  check.that(!use_buffers || buffers.size() == params.size(), params.size(), " params but ", buffers.size(),
             " momentum buffers (momentum ", p.momentum, ")");
  const auto like = [](const Tensor& t, const Tensor& model) {
    return t.defined() && t.dtype() == model.dtype() && t.device() == model.device() && t.shape() == model.shape();
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p0 = params[0];
    const bool ok = params[i].defined() && (p0.dtype() == DType::f32 || p0.dtype() == DType::f64) &&
                    params[i].dtype() == p0.dtype() && params[i].device() == p0.device() && like(grads[i], params[i]) &&
                    (!use_buffers || like(buffers[i], params[i]));
    if (ok) continue;  // the names below are built for the message only (this runs every step)
    std::string index = "[";  // appended piece by piece: "[" + std::to_string(i) trips GCC 12's -Wrestrict (bug 105329)
    index += std::to_string(i);
    index += "]";
    const std::string param = "params" + index, grad = "grads" + index, buffer = "momentum_buffers" + index;
    check.float_input(params[i], param.c_str());
    if (i > 0) check.same_dtype(params[i], param.c_str(), params[0], "params[0]");
    check.like(grads[i], grad.c_str(), params[i], param.c_str());
    if (use_buffers) check.like(buffers[i], buffer.c_str(), params[i], param.c_str());
  }
}

}  // namespace collapse
