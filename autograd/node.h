#pragma once
// A graph node: the backward of one op. It saves what its backward needs at forward time, and has one
// outgoing edge per input (to the input's producer node, or to a leaf that accumulates a gradient).
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace collapse {

struct Edge {
  std::shared_ptr<Node> node;          // the input's producer, or
  std::shared_ptr<VariableImpl> leaf;  // the leaf input that wants a gradient
  bool wants_grad() const { return node || leaf; }
};

struct Node {
  virtual ~Node();
  // One gradient per input (an undefined Tensor where needs_input_grad(i) is false).
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  virtual const char* name() const = 0;
  // Drops saved tensors once the backward has run, so activations are freed as the pass goes.
  virtual void release_saved() {}

  bool needs_input_grad(size_t i) const { return i < next.size() && next[i].wants_grad(); }
  std::vector<Edge> next;
  // The layer that created this node (core/profiler.h), recorded only while profiling.
  std::string profile_layer;
};

// Wraps an op's output. When grad mode is on and some input requires a gradient, connects `node` to the
// inputs and returns a non-leaf; otherwise returns a plain Variable and drops the node.
Variable attach_node(Tensor output, const std::vector<Variable>& inputs, std::shared_ptr<Node> node);
// True when an op should build a node at all (lets ops skip saving tensors in evaluation).
bool any_requires_grad(const std::vector<Variable>& inputs);

}  // namespace collapse
