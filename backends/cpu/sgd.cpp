// SGD with momentum (PyTorch semantics, see kernels.h) as one fused OpenMP pass: a single parallel region
// walks every parameter, each thread taking its static share of each one, so a ResNet's ~60 tensors cost
// one team start-up rather than 60.
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

struct SgdOperands {
  float* p;
  const float* g;
  float* v;  // null without momentum
  int64_t n;
};

void cpu_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<Tensor>& momentum_buffers, const SgdParams& sp) {
  const char* op = "sgd_update";  // the general rules are Kernel::check's; the layouts are this backend's
  const bool use_momentum = sp.momentum != 0.0;
  std::vector<Tensor> grads_in;  // keeps layout-converted gradients alive through the loop
  std::vector<SgdOperands> ops;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = params[i];
    COLLAPSE_CHECK(p.is_dense(), op, ": parameter ", p.str(), " is not dense");
    const MemoryFormat f = p.is_contiguous() ? MemoryFormat::contiguous : MemoryFormat::channels_last;
    grads_in.push_back(in_format(grads[i], f));
    float* v = nullptr;
    if (use_momentum) {
      Tensor& buf = momentum_buffers[i];
      COLLAPSE_CHECK(buf.strides() == p.strides(), op, ": momentum buffer ", buf.str(),
                     " is not in the layout of its parameter ", p.str());
      v = buf.data<float>();
    }
    ops.push_back({p.data<float>(), grads_in.back().data<float>(), v, p.numel()});
  }
  const float lr = static_cast<float>(sp.lr), mu = static_cast<float>(sp.momentum),
              wd = static_cast<float>(sp.weight_decay);
  const bool nesterov = sp.nesterov;
#pragma omp parallel
  for (const SgdOperands& o : ops) {
#pragma omp for schedule(static) nowait
    for (int64_t j = 0; j < o.n; ++j) {
      float g = o.g[j] + wd * o.p[j];
      if (o.v) {
        const float v = mu * o.v[j] + g;
        o.v[j] = v;
        g = nesterov ? g + mu * v : v;
      }
      o.p[j] -= lr * g;
    }
  }
  // The parameters changed in place: caches derived from them (reordered conv weights) must refresh.
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].storage()->bump_version();
    if (use_momentum) momentum_buffers[i].storage()->bump_version();
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sgd_update, cpu, &cpu_sgd_update);

}  // namespace collapse::cpu
