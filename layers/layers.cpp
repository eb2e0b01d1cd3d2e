#include "layers/layers.h"

#include <cmath>
#include <utility>

#include "core/blocked_layout.h"
#include "core/init.h"

namespace collapse {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool with_bias,
               Generator& gen)
    : Module("Conv2d"), params{stride, padding} {
  COLLAPSE_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && padding >= 0,
                 "Conv2d: bad configuration in=", in_channels, " out=", out_channels, " kernel=", kernel,
                 " stride=", stride, " padding=", padding);
  weight = register_parameter("weight", Tensor::empty({out_channels, in_channels, kernel, kernel}));
  kaiming_normal_fan_out(weight.data(), gen);
  if (with_bias) bias = register_parameter("bias", Tensor::zeros({out_channels}));
}

Variable Conv2d::forward(const Variable& x) { return conv2d(x, weight, bias, params); }
Variable Conv2d::forward(const Variable& x, ConvOutput output) {
  return call(x, [&] { return conv2d(x, weight, bias, params, output); });
}

Variable conv_bn_relu(Conv2d& conv, BatchNormReLU& bn, const Variable& x, const Variable& residual,
                      const Conv2d* next) {
  // Evaluation: one convolution, the batch norm folded into it and the ReLU in its kernel. (With a residual
  // the addition would still need its own pass, which the fused batch norm already is.)
  if (!residual.defined() && bn.folds_after(conv)) {
    const bool for_next = next && !next->has_forward_hooks();
    Variable y = bn.forward_folded(conv, x, /*relu=*/true,
                                   for_next ? ConvOutput::blocked_when_faster : ConvOutput::plain);
    if (is_blocked(y.data()) && !conv2d_takes_blocked(y.data(), next->weight.data(), next->params))
      return Variable(from_blocked(y.data()));  // next runs on another layout (no model of ours gets here)
    return y;
  }
  const bool replicas = bn.is_training() && bn.sum_across_replicas;
  const bool affine_backward = !bn.is_training() && grad_mode_enabled();
  const bool hooked = conv.has_forward_hooks() || bn.has_forward_hooks();  // hooks see plain tensors
  const bool blocked = !hooked && !replicas && !affine_backward;
  const Variable h = conv.forward(x, blocked ? ConvOutput::blocked_when_faster : ConvOutput::plain);
  if (residual.defined()) return bn.forward_add(h, residual);
  const bool keep_blocked = is_blocked(h.data()) && next && !next->has_forward_hooks() &&
                            conv2d_takes_blocked(h.data(), next->weight.data(), next->params);
  return keep_blocked ? bn.forward_blocked(h) : bn(h);
}

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool with_bias) : Module("Linear") {
  COLLAPSE_CHECK(in_features > 0 && out_features > 0, "Linear: bad sizes in=", in_features, " out=", out_features);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  uniform_(weight.data(), bound, gen);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out_features}));
    uniform_(bias.data(), bound, gen);
  }
}

Variable Linear::forward(const Variable& x) { return linear(x, weight, bias); }

BatchNorm::BatchNorm(const char* type_name, int64_t c, double eps_, double momentum_)
    : Module(type_name),
      weight(register_parameter("weight", Tensor::full({c}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({c}))),
      running_mean(register_buffer("running_mean", Tensor::zeros({c}))),
      running_var(register_buffer("running_var", Tensor::full({c}, 1.0))),
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64))),
      eps(eps_),
      momentum(momentum_) {}

Variable BatchNorm::forward(const Variable& x) {
  count_batch();
  if (is_training() && sum_across_replicas)
    return sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, sum_across_replicas);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Variable BatchNorm::batch_norm_then_relu(const Variable& x, const Variable& residual, bool blocked_output) {
  count_batch();
  if (is_training() && sum_across_replicas) {
    Variable y = sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, sum_across_replicas);
    return relu(residual.defined() ? add(y, residual) : y);
  }
  return batch_norm_add_relu(x, residual, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                             blocked_output);
}

bool BatchNorm::folds_after(const Conv2d& conv) const {
  return !is_training() && !grad_mode_enabled() && !has_forward_hooks() && !conv.has_forward_hooks() &&
         batch_norm_folding_enabled();
}

Variable BatchNorm::forward_folded(Conv2d& conv, const Variable& x, bool relu, ConvOutput output) {
  COLLAPSE_CHECK(folds_after(conv), "BatchNorm::forward_folded: this pair does not fold (see folds_after)");
  return call(x, [&] {
    const Tensor conv_bias = conv.bias.defined() ? conv.bias.data() : Tensor();
    const FoldedConv& f =
        fold_.get(conv.weight.data(), conv_bias, weight.data(), bias.data(), running_mean, running_var, eps);
    return conv2d_inference(x, f.weight, f.bias, conv.params, relu, output);
  });
}

// A host-side counter: num_batches_tracked is bookkeeping only (momentum is fixed), kept for parity.
void BatchNorm::count_batch() {
  if (is_training() && num_batches_tracked.device().is_cpu()) num_batches_tracked.data<int64_t>()[0] += 1;
}

int synchronize_batch_norm(Module& model, const SumAcrossReplicas& sum) {
  int count = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m)) {
      bn->sum_across_replicas = sum;
      ++count;
    }
  return count;
}

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (auto& m : modules) add(m);
}

Sequential& Sequential::add(ModulePtr module, const std::string& name) {
  register_module(name.empty() ? std::to_string(children().size()) : name, std::move(module));
  return *this;
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  const auto& modules = children();
  for (size_t i = 0; i < modules.size(); ++i) {
    auto* conv = dynamic_cast<Conv2d*>(modules[i].second.get());
    auto* bn = i + 1 < modules.size() ? dynamic_cast<BatchNorm*>(modules[i + 1].second.get()) : nullptr;
    if (auto* bn_relu = dynamic_cast<BatchNormReLU*>(bn); conv && bn_relu) {
      h = conv_bn_relu(*conv, *bn_relu, h);
      ++i;
      continue;
    }
    if (conv && bn && bn->folds_after(*conv)) {  // a convolution and a batch norm without ReLU (a downsample)
      h = bn->forward_folded(*conv, h, /*relu=*/false);
      ++i;
      continue;
    }
    auto* relu_module = dynamic_cast<ReLU*>(modules[i].second.get());
    const bool rectified = i > 0 && dynamic_cast<BatchNormReLU*>(modules[i - 1].second.get());
    h = relu_module && rectified ? relu_module->on_rectified(h) : (*modules[i].second)(h);
  }
  return h;
}

}  // namespace collapse
