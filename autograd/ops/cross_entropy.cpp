#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct CrossEntropyNode final : Node {
  Tensor probs, labels;
  const char* name() const override { return "cross_entropy"; }
  std::vector<Tensor> backward(const Tensor& dloss) override {
    Tensor dlogits = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
    cross_entropy_backward(probs, labels, dloss.item(), dlogits);
    return {dlogits};
  }
  void release_saved() override { probs = labels = Tensor(); }
};
}  // namespace

Variable cross_entropy(const Variable& logits, const Tensor& labels) {
  const Tensor& lt = logits.data();
  COLLAPSE_CHECK(lt.dim() == 2, "cross_entropy: logits must be [N, C], got ", lt.str());
  COLLAPSE_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == lt.size(0),
                 "cross_entropy: labels ", labels.str(), " do not match logits ", lt.str());
  Tensor loss = Tensor::empty({1}, lt.dtype(), lt.device());
  Tensor probs = Tensor::empty(lt.shape(), lt.dtype(), lt.device());
  cross_entropy_forward(lt, labels, loss, probs);
  std::shared_ptr<CrossEntropyNode> node;
  if (any_requires_grad({logits})) {
    node = std::make_shared<CrossEntropyNode>();
    node->probs = probs;
    node->labels = labels;
  }
  return attach_node(std::move(loss), {logits}, std::move(node));
}

}  // namespace collapse
