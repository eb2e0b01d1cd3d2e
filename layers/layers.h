#pragma once
// The built-in layers. Each is a small Module over one op of autograd/functional.h; a new layer is one
// more class like these (docs/extending.md).
#include <initializer_list>
#include <utility>

#include "autograd/functional.h"
#include "core/rng.h"
#include "layers/batch_norm_fold.h"
#include "layers/module.h"

namespace collapse {

class Conv2d : public Module {
 public:
  // Weight [out, in, k, k], kaiming-normal (fan_out, ReLU) as torchvision; bias (optional) zero.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
         Generator& gen);
  Variable forward(const Variable& x) override;
  // A call of this module whose output has the layout `output` asks for (see conv2d).
  Variable forward(const Variable& x, ConvOutput output);
  Variable weight, bias;
  Conv2dParams params;
};

class Linear : public Module {
 public:
  // PyTorch's default: weight and bias ~ U(±1/√in_features).
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
  Variable forward(const Variable& x) override;
  Variable weight, bias;
};

// BatchNorm over dim 1 of [N,C,H,W] (BatchNorm2d) or [N,C] (BatchNorm1d): weight 1, bias 0, running mean 0,
// running var 1, momentum 0.1, eps 1e-5, as PyTorch. num_batches_tracked is kept for torchvision parity.
class BatchNorm : public Module {
 public:
  BatchNorm(const char* type_name, int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Variable forward(const Variable& x) override;
  Variable weight, bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;
  double eps, momentum;
  // Set (by synchronize_batch_norm): training statistics over the global batch of a data-parallel job,
  // through sync_batch_norm, unfused (BN, then the addition and ReLU). Unset: this replica's batch.
  SumAcrossReplicas sum_across_replicas;

  // Whether `conv` followed by this batch norm runs as one convolution with the batch norm folded into it
  // (layers/batch_norm_fold.h): in evaluation, under NoGradGuard, with no forward hook on either module (a
  // hook would see conv's output, which the folded convolution never makes), and folding not switched off.
  bool folds_after(const Conv2d& conv) const;
  // bn(conv(x)), rectified where `relu`, as that one convolution (conv2d_inference), for a caller that
  // checked folds_after(conv). A call of this module (its profiler scope covers the convolution too).
  Variable forward_folded(Conv2d& conv, const Variable& x, bool relu, ConvOutput output = ConvOutput::plain);

 protected:
  // relu(BN(x) + residual) (residual undefined: relu(BN(x))) in one fused op, or, when the statistics span
  // replicas, sync_batch_norm followed by the addition and ReLU. blocked_output: see batch_norm_add_relu.
  Variable batch_norm_then_relu(const Variable& x, const Variable& residual, bool blocked_output = false);

 private:
  void count_batch();
  BatchNormFold fold_;
};

// A BatchNorm that feeds a ReLU, as one module and one fused op (batch_norm_relu): the ReLU's and the
// addition's passes over memory are saved, and every BN of our models feeds one. Its parameters and buffers
// are BatchNorm's, under the same names, so state dicts and checkpoints are those of BatchNorm + ReLU.
// Forward hooks see x and the rectified output max(0, BN(x)): BN(x) alone never exists.
class BatchNormReLU : public BatchNorm {
 public:
  using BatchNorm::BatchNorm;
  Variable forward(const Variable& x) override { return batch_norm_then_relu(x, Variable()); }
  // relu(BN(x) + residual), the end of a residual block (residual: the shortcut, x's shape), fused
  // (batch_norm_add_relu). A call of this module: hooks see x and the block's output.
  Variable forward_add(const Variable& x, const Variable& residual) {
    return call(x, [&] { return batch_norm_then_relu(x, residual); });
  }
  // A call whose output stays in x's channel-blocked layout, for a convolution that reads it so (see
  // conv_bn_relu).
  Variable forward_blocked(const Variable& x) {
    return call(x, [&] { return batch_norm_then_relu(x, Variable(), /*blocked_output=*/true); });
  }
};
// Makes every BatchNorm in `model` compute its training statistics over all replicas with `sum`
// (--sync-bn); returns how many there are. An empty function makes them local again.
int synchronize_batch_norm(Module& model, const SumAcrossReplicas& sum);

struct BatchNorm2d : BatchNorm {
  explicit BatchNorm2d(int64_t c) : BatchNorm("BatchNorm2d", c) {}
};
struct BatchNorm1d : BatchNorm {
  explicit BatchNorm1d(int64_t c) : BatchNorm("BatchNorm1d", c) {}
};
struct BatchNormReLU2d : BatchNormReLU {
  explicit BatchNormReLU2d(int64_t c) : BatchNormReLU("BatchNorm2d", c) {}
};

// relu(bn(conv(x)) + residual) (residual undefined: relu(bn(conv(x)))), a call of conv and one of bn (their
// hooks and profiler scopes as usual). Where the backend computes the convolution in the channel-blocked
// layout anyway, bn reads conv's output in it (ConvOutput::blocked_when_faster, core/blocked_layout.h),
// which saves a reorder in the forward pass and one in the backward. `next`, when given, is the one
// convolution that reads the result (a residual block's conv1 -> bn1 -> conv2): where it too runs on the
// blocked layout, the result stays blocked for it, which saves its input's copy and its dx's reorder.
// None of it where a forward hook (on conv, bn or next) would see a blocked tensor, bn's statistics span
// replicas, or bn evaluates with gradients (DeepFool). Models call this for every convolution that feeds a
// BatchNormReLU; Sequential does for such a pair.
Variable conv_bn_relu(Conv2d& conv, BatchNormReLU& bn, const Variable& x, const Variable& residual = Variable(),
                      const Conv2d* next = nullptr);

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Variable forward(const Variable& x) override { return relu(x); }
  // A call of this module on an x that is already rectified (the output of a BatchNormReLU): x itself,
  // with the forward hooks run as for any call. Sequential uses it for a ReLU after a BatchNormReLU, which
  // keeps torchvision's indices and the ReLU hooks (VGG::stage_outputs) at no cost.
  Variable on_rectified(const Variable& x) {
    return call(x, [&] { return x; });
  }
};

struct MaxPool2d : Module {
  explicit MaxPool2d(int64_t kernel, int64_t stride = -1, int64_t padding = 0)
      : Module("MaxPool2d"), params{kernel, stride < 0 ? kernel : stride, padding} {}
  Variable forward(const Variable& x) override { return max_pool2d(x, params); }
  Pool2dParams params;
};

struct AvgPool2d : Module {
  explicit AvgPool2d(int64_t kernel, int64_t stride = -1, int64_t padding = 0)
      : Module("AvgPool2d"), params{kernel, stride < 0 ? kernel : stride, padding} {}
  Variable forward(const Variable& x) override { return avg_pool2d(x, params); }
  Pool2dParams params;
};

// [N,C,H,W] -> [N,C] (torchvision's AdaptiveAvgPool2d(1) followed by flatten).
struct GlobalAvgPool : Module {
  GlobalAvgPool() : Module("GlobalAvgPool") {}
  Variable forward(const Variable& x) override { return global_avg_pool(x); }
};

struct Flatten : Module {
  Flatten() : Module("Flatten") {}
  Variable forward(const Variable& x) override { return flatten(x); }
};

struct Identity : Module {
  Identity() : Module("Identity") {}
  Variable forward(const Variable& x) override { return x; }
};

// Children named "0", "1", ... run in order. A ReLU directly after a BatchNormReLU is called with
// ReLU::on_rectified (its input is rectified already): same values, names and hooks as BN, ReLU unfused.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  // Appends under the next index, or under `name` when given.
  Sequential& add(ModulePtr module, const std::string& name = "");
  Variable forward(const Variable& x) override;
  size_t size() const { return children().size(); }
  Module& at(size_t i) const { return *children().at(i).second; }
};

}  // namespace collapse
