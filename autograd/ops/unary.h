#pragma once
// The differentiable form of an elementwise op y = f(x) whose backward needs one tensor of the forward:
// its input or its output. `forward(x, y)` fills y; `backward(dy, saved, dx)` fills dx. An op is then one
// call (autograd/ops/relu.cpp):
//   return unary_op("relu", x, Saved::output, [](const Tensor& x, Tensor& y) { relu_forward(x, y); },
//                   [](const Tensor& dy, const Tensor& y, Tensor& dx) { relu_backward(dy, y, dx); });
// Nothing is saved when no input needs a gradient (evaluation).
#include <memory>
#include <utility>

#include "autograd/node.h"

namespace collapse {

enum class Saved { input, output };

template <class Backward>
struct UnaryNode final : Node {
  const char* op;
  Tensor saved;
  Backward backward_fn;
  UnaryNode(const char* op, Tensor saved, Backward backward)
      : op(op), saved(std::move(saved)), backward_fn(std::move(backward)) {}
  const char* name() const override { return op; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty_activation(saved.shape(), saved.dtype(), saved.device());
    backward_fn(dy, saved, dx);
    return {dx};
  }
  void release_saved() override { saved = Tensor(); }
};

template <class Forward, class Backward>
Variable unary_op(const char* op, const Variable& x, Saved saved, Forward&& forward, Backward backward) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  forward(xt, y);
  std::shared_ptr<UnaryNode<Backward>> node;
  if (any_requires_grad({x}))
    node = std::make_shared<UnaryNode<Backward>>(op, saved == Saved::input ? xt : y, std::move(backward));
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
