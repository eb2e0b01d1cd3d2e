// Convolution on cuDNN's (legacy, still shipped) imperative API: cudnnConvolutionForward, BackwardData and
// BackwardFilter. Per shape, a plan holds the descriptors and the three algorithms, chosen once with the
// cudnnGet*Algorithm_v7 heuristics under the workspace cap, FMA math only (no TF32) and, by default, only
// among algorithms cuDNN reports deterministic (handles.h). The bias is our own broadcast add (forward)
// and per-channel sum (backward), so it is deterministic whatever cuDNN picks.
//
// Layout: activations are described to cuDNN with their real channels-last strides (logical NCHW sizes),
// weights as row-major oihw = cuDNN's NCHW filter format. Should cuDNN offer no usable algorithm for
// channels-last activations with NCHW filters on some GPU, the plan falls back to row-major activations
// (staged through copies): slower, never wrong.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/conv2d_composed.h"
#include "backends/cuda/common.h"
#include "backends/cuda/handles.h"

namespace collapse::cuda {
namespace {

// The sizes of one convolution (checked by Kernel::check before any pass runs).
struct ConvShape {
  Shape x, w, y;  // [N,Ci,H,W], [Co,Ci,k,k], [N,Co,Ho,Wo]
  Conv2dParams p;
  DType dtype;
};

// One algorithm choice: which algorithm, and the workspace it needs.
struct Algo {
  int algo = 0;
  size_t workspace = 0;
};

// Walks the heuristics' ranking (fastest first) and takes the first entry that cuDNN supports for these
// descriptors, that does not use tensor-op math (TF32), is deterministic when that is required, and whose
// workspace (asked for again per algorithm, as PyTorch does: the heuristics' figure is not always filled
// in) fits under the cap. `rejected` collects why each candidate was turned down.
template <class Perf, class WorkspaceFn>
std::optional<Algo> pick(const std::vector<Perf>& perfs, int count, WorkspaceFn&& workspace_of, std::string& rejected) {
  for (int i = 0; i < count; ++i) {
    const Perf& perf = perfs[static_cast<size_t>(i)];
    const std::string name = std::string("algo ").append(std::to_string(static_cast<int>(perf.algo)));
    if (perf.status != CUDNN_STATUS_SUCCESS) {
      rejected += " " + name + ": " + cudnnGetErrorString(perf.status) + ";";
      continue;
    }
    if (perf.mathType == CUDNN_TENSOR_OP_MATH || perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) {
      rejected += " " + name + ": tensor-op math;";
      continue;
    }
    if (deterministic() && perf.determinism != CUDNN_DETERMINISTIC) {
      rejected += " " + name + ": non-deterministic;";
      continue;
    }
    size_t bytes = 0;
    if (workspace_of(perf.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kWorkspaceCap) {
      rejected += " " + name + ": workspace;";
      continue;
    }
    return Algo{static_cast<int>(perf.algo), bytes};
  }
  return std::nullopt;
}

// Descriptors and algorithms of one convolution shape, in one activation layout.
struct ConvPlan {
  MemoryFormat format = MemoryFormat::channels_last;
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;
  Algo forward, backward_data, backward_filter;
};

void describe(TensorDescriptor& d, DType dtype, const Shape& shape, MemoryFormat format) {
  const Shape st = format == MemoryFormat::channels_last ? channels_last_strides(shape) : contiguous_strides(shape);
  d.set(dtype, {shape[0], shape[1], shape[2], shape[3]}, {st[0], st[1], st[2], st[3]});
}

// Fills `plan` for `format`; false (with the reasons in `rejected`) when a pass has no usable algorithm.
bool choose_algorithms(const ConvShape& s, MemoryFormat format, ConvPlan& plan, std::string& rejected) {
  plan.format = format;
  describe(plan.x, s.dtype, s.x, format);
  describe(plan.y, s.dtype, s.y, format);
  plan.w.set(s.dtype, {s.w[0], s.w[1], s.w[2], s.w[3]});
  plan.conv.set(s.dtype, s.p.stride, s.p.padding);
  cudnnHandle_t h = cudnn_handle();
  const auto x = plan.x.get(), y = plan.y.get();
  const auto w = plan.w.get();
  const auto conv = plan.conv.get();

  int max_count = 0, count = 0;
  COLLAPSE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(static_cast<size_t>(max_count));
  COLLAPSE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, max_count, &count, fwd.data()));
  std::string why;
  auto forward = pick(fwd, count, [&](cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, a, bytes);
  }, why);
  if (!forward) {
    rejected += " forward:" + why;
    return false;
  }

  COLLAPSE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bwd_data(static_cast<size_t>(max_count));
  COLLAPSE_CUDNN_CHECK(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, y, conv, x, max_count, &count, bwd_data.data()));
  why.clear();
  auto backward_data = pick(bwd_data, count, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, w, y, conv, x, a, bytes);
  }, why);
  if (!backward_data) {
    rejected += " backward-data:" + why;
    return false;
  }

  COLLAPSE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> bwd_filter(static_cast<size_t>(max_count));
  COLLAPSE_CUDNN_CHECK(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, y, conv, w, max_count, &count, bwd_filter.data()));
  why.clear();
  auto backward_filter = pick(bwd_filter, count, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x, y, conv, w, a, bytes);
  }, why);
  if (!backward_filter) {
    rejected += " backward-filter:" + why;
    return false;
  }
  plan.forward = *forward;
  plan.backward_data = *backward_data;
  plan.backward_filter = *backward_filter;
  return true;
}

// "float32 x2,3,9,7 w5,3,3,3 s1 p1". Appended piece by piece: GCC 12 warns spuriously (-Wrestrict) on
// `"," + std::to_string(d)`.
std::string plan_key(const ConvShape& s) {
  std::string key = dtype_name(s.dtype);
  for (auto [tag, shape] : {std::pair{" x", &s.x}, {" w", &s.w}}) {
    key.append(tag);
    for (int64_t d : *shape) key.append(std::to_string(d)).append(",");
  }
  return key.append(" s").append(std::to_string(s.p.stride)).append(" p").append(std::to_string(s.p.padding));
}

// The plan for a shape, made on first use (one heuristic query per pass) and kept for the process.
ConvPlan& plan_for(const ConvShape& s) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::unique_ptr<ConvPlan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = plan_key(s);
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;
  auto plan = std::make_unique<ConvPlan>();
  std::string rejected;
  if (!choose_algorithms(s, MemoryFormat::channels_last, *plan, rejected)) {
    rejected = " channels-last:" + rejected + " row-major:";
    COLLAPSE_CHECK(choose_algorithms(s, MemoryFormat::contiguous, *plan, rejected),
                   "conv2d: no usable cuDNN algorithm for x ", shape_str(s.x), ", w ", shape_str(s.w), ", stride ",
                   s.p.stride, ", padding ", s.p.padding, " (FMA math", deterministic() ? ", deterministic" : "",
                   ", workspace <= ", kWorkspaceCap >> 20, " MiB); rejected:", rejected);
  }
  return *plans.emplace(key, std::move(plan)).first->second;
}

// b seen as a [N,Co,Ho,Wo] tensor (stride 0 everywhere but the channels): the bias add is a broadcast add.
View bias_over(const Tensor& b, const Tensor& y) {
  return {b.raw_data(), y.shape(), {0, b.strides()[0], 0, 0}, b.dtype()};
}

void cuda_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  const ConvShape s{x.shape(), w.shape(), y.shape(), p, x.dtype()};
  if (y.numel() == 0) return;
  ConvPlan& plan = plan_for(s);
  const Tensor xin = dense_in(x, plan.format), win = dense_in(w, MemoryFormat::contiguous);
  StagedOutput out(y, plan.format);
  {
    std::lock_guard<std::mutex> lock(workspace_mutex());
    COLLAPSE_CUDNN_CHECK(cudnnConvolutionForward(
        cudnn_handle(), cudnn_one(s.dtype), plan.x.get(), xin.raw_data(), plan.w.get(), win.raw_data(),
        plan.conv.get(), static_cast<cudnnConvolutionFwdAlgo_t>(plan.forward.algo),
        workspace(plan.forward.workspace), plan.forward.workspace, cudnn_zero(s.dtype), plan.y.get(),
        out.get().raw_data()));
  }
  if (b.defined()) add_scaled(View::of(out.get()), 1.0, bias_over(b, out.get()));
  out.finish();
}

void cuda_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ConvShape s{dx.shape(), w.shape(), dy.shape(), p, dx.dtype()};
  if (dx.numel() == 0) return;
  ConvPlan& plan = plan_for(s);
  const Tensor dyin = dense_in(dy, plan.format), win = dense_in(w, MemoryFormat::contiguous);
  StagedOutput out(dx, plan.format);
  {
    std::lock_guard<std::mutex> lock(workspace_mutex());
    COLLAPSE_CUDNN_CHECK(cudnnConvolutionBackwardData(
        cudnn_handle(), cudnn_one(s.dtype), plan.w.get(), win.raw_data(), plan.y.get(), dyin.raw_data(),
        plan.conv.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.backward_data.algo),
        workspace(plan.backward_data.workspace), plan.backward_data.workspace, cudnn_zero(s.dtype), plan.x.get(),
        out.get().raw_data()));
  }
  out.finish();
}

void cuda_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db) {
  const ConvShape s{x.shape(), dw.shape(), dy.shape(), p, x.dtype()};
  if (dy.numel() == 0) {  // an empty batch: the gradients are zero
    dw.zero_();
    if (db.defined()) db.zero_();
    return;
  }
  ConvPlan& plan = plan_for(s);
  const Tensor xin = dense_in(x, plan.format), dyin = dense_in(dy, plan.format);
  StagedOutput out(dw, MemoryFormat::contiguous);
  {
    std::lock_guard<std::mutex> lock(workspace_mutex());
    COLLAPSE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        cudnn_handle(), cudnn_one(s.dtype), plan.x.get(), xin.raw_data(), plan.y.get(), dyin.raw_data(),
        plan.conv.get(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.backward_filter.algo),
        workspace(plan.backward_filter.workspace), plan.backward_filter.workspace, cudnn_zero(s.dtype),
        plan.w.get(), out.get().raw_data()));
  }
  out.finish();
  if (db.defined()) channel_sums(conv2d_backward_weights.name, dyin, db);
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(conv2d_forward, cuda, &cuda_conv2d_forward);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_data, cuda, &cuda_conv2d_backward_data);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_weights, cuda, &cuda_conv2d_backward_weights);
COLLAPSE_REGISTER_KERNEL(conv2d_backward, cuda, &composed_conv2d_backward<Impl::cuda>);
COLLAPSE_REGISTER_KERNEL(conv2d_relu_forward, cuda, &composed_conv2d_relu_forward<Impl::cuda>);

}  // namespace collapse::cuda
