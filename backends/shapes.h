#pragma once
// The argument rules of every built-in primitive, written once for all backends (as ATen's meta
// functions): shapes, ranks, dtypes and devices of a call, checked by the dispatcher before any backend
// runs (Kernel::check in backends/dispatch.h), so implementations only compute. Autograd uses the same
// geometry to size its outputs. Each failure names the op, the argument and what was expected, e.g.
//   conv2d_forward: y is float32[2, 4, 5, 5] cpu channels_last, expected shape [2, 4, 6, 6] (x [2, 3, 8, 8]
//   convolved by w [4, 3, 3, 3], stride 1, padding 1)
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/blocked_layout.h"
#include "core/error.h"
#include "core/tensor.h"

namespace collapse {

struct Conv2dParams {
  int64_t stride = 1;
  int64_t padding = 0;
};
struct Pool2dParams {
  int64_t kernel = 2;
  int64_t stride = 2;
  int64_t padding = 0;
};
// SGD with momentum, PyTorch semantics (see sgd_update in backends/kernels.h).
struct SgdParams {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// Output spatial size of a convolution or pooling window; 0 when the window does not fit even once
// (plain integer division would round (2 - 3)/2 + 1 up to 1).
inline int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  const int64_t span = in + 2 * padding - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

// Validates one call's arguments. The first float tensor checked (`float_input`) is the call's main
// operand; every other tensor must share its dtype and device unless a rule says otherwise (labels are
// int64, per-channel statistics float64 on the cpu).
class ArgCheck {
 public:
  explicit ArgCheck(const char* op) : op_(op) {}

  // Defined, float32 or float64: the tensor that fixes the op's dtype and device.
  void float_input(const Tensor& t, const char* name) const;
  // Defined, with the dtype and device of `like`: no silent mixing of precisions or devices.
  void same_dtype(const Tensor& t, const char* name, const Tensor& like, const char* like_name) const;
  // Defined, of dtype `expected`, on `device`.
  void dtype(const Tensor& t, const char* name, DType expected, const Device& device) const;
  void rank(const Tensor& t, const char* name, int64_t expected) const;
  // `source` says where the expected shape comes from ("the shape of x"), when that helps: a string, or a
  // function returning one, called only on failure (checks run on every kernel call; messages are rare).
  template <class Source = const char*>
  void shape(const Tensor& t, const char* name, const Shape& expected, const Source& source = "") const {
    if (t.shape() == expected) return;
    if constexpr (std::is_invocable_v<Source>)
      fail_shape(t, name, expected, source());
    else
      fail_shape(t, name, expected, std::string(source));
  }
  // Same dtype, device and shape as `model`: outputs and gradients of elementwise ops.
  void like(const Tensor& t, const char* name, const Tensor& model, const char* model_name) const;
  // A channel-blocked t (core/blocked_layout.h) is float32 on the cpu and run by the cpu backend, the only
  // one that reads the layout. Kernels whose rules call this accept one for that argument.
  void blocked_on_cpu(const Tensor& t, const char* name) const;
  template <class... Args>
  void that(bool condition, const Args&... message) const {
    COLLAPSE_CHECK(condition, op_, ": ", message...);
  }
  const char* op() const { return op_; }

 private:
  void present(const Tensor& t, const char* name) const;
  [[noreturn]] void fail_shape(const Tensor& t, const char* name, const Shape& expected,
                               const std::string& source) const;
  const char* op_;
};

// ---- geometry, read from (and checked against) the shapes of a call
struct Conv2dGeometry {
  int64_t N, Ci, H, W, Co, k, Ho, Wo;
  Conv2dParams p;
  Shape input() const { return {N, Ci, H, W}; }
  Shape weight() const { return {Co, Ci, k, k}; }
  Shape output() const { return {N, Co, Ho, Wo}; }
  // "x [2, 3, 8, 8] convolved by w [4, 3, 3, 3], stride 1, padding 1", for error messages.
  std::string describe(const char* input, const char* weights) const;
};
// A convolution of input shape `x` (dx's for backward-data) by weights `w` (dw's for backward-weights).
Conv2dGeometry conv2d_geometry(const ArgCheck& check, const Shape& x, const Shape& w, const Conv2dParams& p);

struct Pool2dGeometry {
  int64_t N, C, H, W, Ho, Wo;
  Pool2dParams p;
  Shape input() const { return {N, C, H, W}; }
  Shape output() const { return {N, C, Ho, Wo}; }
  std::string describe(const char* input) const;  // "x [2, 3, 8, 8] pooled by kernel 3, stride 2, padding 1"
};
Pool2dGeometry pool2d_geometry(const ArgCheck& check, const Shape& x, const char* x_name, const Pool2dParams& p);

// Output shapes for callers that allocate (autograd), checked by the same rules.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);
Shape pool2d_output_shape(const char* op, const Shape& x, const Pool2dParams& p);
Shape linear_output_shape(const Shape& x, const Shape& w);
Shape concat_channels_shape(const std::vector<Tensor>& xs);

// Elementwise ops: `x` is the main operand, every tensor in `same` must be shaped like it.
void check_elementwise(const ArgCheck& check, const Tensor& x, const char* x_name,
                       std::initializer_list<std::pair<const Tensor*, const char*>> same);
// logits-like scores [N,C] (N, C > 0) and int64 labels [N] on the scores' device or the cpu; labels on the
// cpu are checked to lie in [0, C) here, labels on a GPU by the kernel that reads them.
void check_scores_and_labels(const ArgCheck& check, const Tensor& scores, const char* scores_name,
                             const Tensor& labels);

// ---- the rules of each built-in slot (the slots are in backends/kernels.h, which installs these). Channel-
// blocked activations (core/blocked_layout.h) are accepted by the convolutions (x, y, dy, dx) and the batch
// norms (x, with dx like it, and y and dy when x is; never the residual or its gradient); by nothing else.
void check_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y);
void check_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx);
void check_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db);
void check_conv2d_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                           Tensor& dw, Tensor& db);
bool check_conv2d_runs_blocked(const Tensor& x, const Tensor& w, const Conv2dParams& p);
void check_blocked_copy(const Tensor& x, Tensor& blocked);
void check_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                    Tensor& save_var);
void check_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y);
void check_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta);
void check_batch_norm_relu_forward_train(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                         const Tensor& beta, Tensor& running_mean, Tensor& running_var,
                                         double momentum, double eps, Tensor& y, Tensor& save_mean, Tensor& save_var);
void check_batch_norm_relu_forward_eval(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                        double eps, Tensor& y);
void check_batch_norm_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& save_mean, const Tensor& save_var, double eps,
                                    Tensor& dx, Tensor& dresidual, Tensor& dgamma, Tensor& dbeta);
void check_max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& workspace);
void check_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx);
void check_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y);
void check_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx);
void check_global_avg_pool_forward(const Tensor& x, Tensor& y);
void check_global_avg_pool_backward(const Tensor& dy, Tensor& dx);
void check_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
void check_linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx);
void check_linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db);
void check_relu_forward(const Tensor& x, Tensor& y);
void check_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx);
void check_add_forward(const Tensor& a, const Tensor& b, Tensor& y);
void check_axpy(double alpha, const Tensor& x, Tensor& acc);
void check_scale(double alpha, const Tensor& x, Tensor& y);
void check_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y);
void check_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs);
void check_cross_entropy_backward(const Tensor& probs, const Tensor& labels, double dloss, Tensor& dlogits);
void check_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      std::vector<Tensor>& momentum_buffers, const SgdParams& p);

}  // namespace collapse
