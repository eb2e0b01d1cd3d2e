// The backward engine: Kahn's algorithm over the graph reachable from the output, iterative so that a
// 100,000-node chain (or a DenseNet-250) never touches the call stack's depth.
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "backends/kernels.h"
#include "core/profiler.h"

namespace collapse {
namespace {

thread_local bool g_grad_enabled = true;

struct PendingGrad {
  Tensor grad;
};

// True when `t` is the only handle on its memory: nobody else (another input's pending gradient, a view,
// the node that produced it) can observe an in-place update.
bool sole_owner(const Tensor& t) { return t.storage().use_count() == 1 && t.is_dense(); }

// Adds g into slot. The first arrival is kept as is (no copy). A later one is added in place when the
// slot holds the only reference to its tensor; otherwise (an op that handed one gradient to two inputs,
// as add does) the sum goes to a new tensor: one pass, where copy-then-add would take two.
void accumulate(PendingGrad& slot, Tensor g) {
  if (!slot.grad.defined()) {
    slot.grad = std::move(g);
    return;
  }
  COLLAPSE_CHECK(slot.grad.shape() == g.shape(), "backward: gradient shape ", shape_str(g.shape()),
                 " does not match ", shape_str(slot.grad.shape()));
  if (sole_owner(slot.grad)) {
    axpy(1.0, g, slot.grad);
    return;
  }
  Tensor sum = slot.grad.dim() == 4 ? Tensor::empty_activation(g.shape(), g.dtype(), g.device())
                                    : Tensor::empty(g.shape(), g.dtype(), g.device());
  add_forward(slot.grad, g, sum);
  slot.grad = std::move(sum);
}

void accumulate_into_leaf(VariableImpl& leaf, const Tensor& g) {
  COLLAPSE_CHECK(g.shape() == leaf.data.shape(), "backward: gradient ", g.str(), " for a leaf of shape ",
                 shape_str(leaf.data.shape()));
  if (!leaf.grad.defined()) {
    leaf.grad = g.clone();  // the leaf owns its gradient: the graph's buffers are released after backward
  } else {
    axpy(1.0, g, leaf.grad);
  }
  if (leaf.post_accumulate_hook) leaf.post_accumulate_hook();
}

}  // namespace

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
bool grad_mode_enabled() { return g_grad_enabled; }

Node::~Node() {
  // Destroying a long chain recursively would overflow the stack: unlink sole-owned successors and
  // destroy them from a loop instead.
  std::vector<std::shared_ptr<Node>> doomed;
  for (auto& e : next)
    if (e.node && e.node.use_count() == 1) doomed.push_back(std::move(e.node));
  while (!doomed.empty()) {
    std::shared_ptr<Node> n = std::move(doomed.back());
    doomed.pop_back();
    for (auto& e : n->next)
      if (e.node && e.node.use_count() == 1) doomed.push_back(std::move(e.node));
  }
}

bool any_requires_grad(const std::vector<Variable>& inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& v : inputs)
    if (v.defined() && v.requires_grad()) return true;
  return false;
}

Variable attach_node(Tensor output, const std::vector<Variable>& inputs, std::shared_ptr<Node> node) {
  if (!node || !any_requires_grad(inputs)) return Variable(std::move(output));
  node->next.resize(inputs.size());
  if (profile::enabled()) node->profile_layer = profile::current_layer();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Variable& v = inputs[i];
    if (!v.defined() || !v.requires_grad()) continue;
    if (v.grad_fn()) node->next[i].node = v.grad_fn();
    else node->next[i].leaf = v.impl();
  }
  return Variable::from_node(std::move(output), std::move(node));
}

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

Variable Variable::from_node(Tensor data, std::shared_ptr<Node> grad_fn) {
  Variable v(std::move(data));
  v.impl_->grad_fn = std::move(grad_fn);
  return v;
}

void Variable::set_post_accumulate_hook(std::function<void()> hook) {
  COLLAPSE_CHECK(is_leaf(), "set_post_accumulate_hook: only leaves accumulate gradients");
  impl_->post_accumulate_hook = std::move(hook);
}

void Variable::set_requires_grad(bool r) {
  COLLAPSE_CHECK(is_leaf(), "set_requires_grad: only leaves can change requires_grad");
  impl_->requires_grad = r;
}

void Variable::backward(const Tensor& seed, bool retain_graph) const {
  COLLAPSE_CHECK(defined(), "backward: undefined variable");
  COLLAPSE_CHECK(requires_grad(), "backward: the output does not require a gradient (no input asked for one, or it "
                                  "was computed under NoGradGuard)");
  Tensor g = seed;
  if (!g.defined()) {
    COLLAPSE_CHECK(data().numel() == 1, "backward: a seed gradient is needed for a non-scalar output ", data().str());
    g = Tensor::full(data().shape(), 1.0, data().dtype(), data().device());
  }
  COLLAPSE_CHECK(g.shape() == data().shape(), "backward: seed ", g.str(), " does not match output ", data().str());
  if (is_leaf()) {
    accumulate_into_leaf(*impl_, g);
    return;
  }
  NoGradGuard no_grad;  // backward computations never build graphs

  // Count, for every reachable node, how many edges point at it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{impl_->grad_fn.get()};
  std::unordered_set<Node*> seen{impl_->grad_fn.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.node) continue;
      ++dependencies[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<Node*, PendingGrad> pending;
  pending[impl_->grad_fn.get()] = {g};
  std::vector<std::shared_ptr<Node>> ready{impl_->grad_fn};
  while (!ready.empty()) {
    std::shared_ptr<Node> n = std::move(ready.back());
    ready.pop_back();
    auto it = pending.find(n.get());
    Tensor grad_out = std::move(it->second.grad);
    pending.erase(it);
    std::vector<Tensor> grads;
    if (profile::enabled()) {
      profile::BackwardScope layer(n->profile_layer);
      grads = n->backward(grad_out);
    } else {
      grads = n->backward(grad_out);
    }
    if (!retain_graph) n->release_saved();
    COLLAPSE_CHECK(grads.size() == n->next.size(), n->name(), " backward returned ", grads.size(),
                   " gradients for ", n->next.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      Edge& e = n->next[i];
      if (!e.wants_grad()) continue;
      COLLAPSE_CHECK(grads[i].defined(), n->name(), " backward gave no gradient for input ", i);
      if (e.leaf) {
        accumulate_into_leaf(*e.leaf, grads[i]);
      } else {
        accumulate(pending[e.node.get()], std::move(grads[i]));
        if (--dependencies[e.node.get()] == 0) ready.push_back(e.node);
      }
    }
  }
}

}  // namespace collapse
