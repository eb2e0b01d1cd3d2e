#pragma once
// Variable: a Tensor plus what autograd needs (its gradient, whether it wants one, and the graph node
// that produced it). Tensors know nothing of graphs; Variables are cheap shared handles.
#include <functional>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace collapse {

struct Node;

struct VariableImpl {
  Tensor data;
  Tensor grad;
  bool requires_grad = false;     // leaves only: accumulate into grad during backward
  std::shared_ptr<Node> grad_fn;  // non-leaves: the node that produced data
  // Leaves only: called after each gradient backward adds into `grad` (PyTorch's
  // register_post_accumulate_grad_hook); data parallelism starts a gradient's all-reduce from here.
  std::function<void()> post_accumulate_hook;
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);
  static Variable from_node(Tensor data, std::shared_ptr<Node> grad_fn);

  bool defined() const { return impl_ && impl_->data.defined(); }
  const Tensor& data() const { return impl_->data; }
  Tensor& data() { return impl_->data; }
  const Tensor& grad() const { return impl_->grad; }
  void set_grad(Tensor g) { impl_->grad = std::move(g); }
  void zero_grad() { impl_->grad = Tensor(); }  // "set to none": the next backward writes a fresh gradient
  // A leaf's hook called each time backward has added into its gradient; an empty function removes it.
  void set_post_accumulate_hook(std::function<void()> hook);

  // True for a leaf that asked for a gradient and for anything computed from one.
  bool requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }
  void set_requires_grad(bool r);
  bool is_leaf() const { return !impl_->grad_fn; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  const std::shared_ptr<VariableImpl>& impl() const { return impl_; }

  // Backpropagates from this variable. A one-element output needs no seed (it defaults to 1).
  // Saved tensors are freed as the pass goes unless retain_graph is set (several backward passes through
  // one graph, e.g. one per logit for DeepFool).
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false) const;

  // A leaf sharing the data, cut from the graph.
  Variable detach() const { return Variable(impl_->data, false); }

  const Shape& shape() const { return impl_->data.shape(); }
  int64_t size(int64_t d) const { return impl_->data.size(d); }

 private:
  std::shared_ptr<VariableImpl> impl_;
};

// Disables graph building in its scope (evaluation, feature collection, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
bool grad_mode_enabled();

}  // namespace collapse
