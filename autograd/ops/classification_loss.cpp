#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct ClassificationLossNode final : Node {
  Tensor saved, labels;
  LossSpec spec;
  const char* name() const override { return "classification_loss"; }
  std::vector<Tensor> backward(const Tensor& dloss) override {
    Tensor dlogits = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
    classification_loss_backward(saved, labels, spec, dloss.item(), dlogits);
    return {dlogits};
  }
  void release_saved() override { saved = labels = Tensor(); }
};
}  // namespace

Variable classification_loss(const Variable& logits, const Tensor& labels, const LossSpec& spec) {
  // The paper's loss keeps its fused kernels (and their bit-exact history).
  if (spec.kind == LossKind::cross_entropy) return cross_entropy(logits, labels);
  const Tensor& lt = logits.data();
  COLLAPSE_CHECK(lt.dim() == 2, "classification_loss: logits must be [N, C], got ", lt.str());
  COLLAPSE_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == lt.size(0),
                 "classification_loss: labels ", labels.str(), " do not match logits ", lt.str());
  Tensor loss = Tensor::empty({1}, lt.dtype(), lt.device());
  Tensor saved = Tensor::empty(lt.shape(), lt.dtype(), lt.device());
  classification_loss_forward(lt, labels, spec, loss, saved);
  std::shared_ptr<ClassificationLossNode> node;
  if (any_requires_grad({logits})) {
    node = std::make_shared<ClassificationLossNode>();
    node->saved = saved;
    node->labels = labels;
    node->spec = spec;
  }
  return attach_node(std::move(loss), {logits}, std::move(node));
}

}  // namespace collapse
