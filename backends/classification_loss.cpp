#include "backends/classification_loss.h"

#include <cmath>

#include "backends/shapes.h"

namespace collapse {

const char* loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::cross_entropy: return "ce";
    case LossKind::label_smoothing: return "label-smoothing";
    case LossKind::focal: return "focal";
    case LossKind::mse: return "mse";
  }
  return "?";
}

LossKind loss_kind(const std::string& name) {
  for (LossKind k : {LossKind::cross_entropy, LossKind::label_smoothing, LossKind::focal, LossKind::mse})
    if (name == loss_name(k)) return k;
  COLLAPSE_FAIL("unknown loss '", name, "' (ce, label-smoothing, focal or mse)");
}

void check_loss_spec(const LossSpec& s) {
  COLLAPSE_CHECK(std::isfinite(s.smoothing) && s.smoothing >= 0 && s.smoothing < 1, "--label-smoothing ", s.smoothing,
                 " is outside [0, 1)");
  COLLAPSE_CHECK(std::isfinite(s.gamma) && s.gamma >= 0, "--focal-gamma ", s.gamma, " must be >= 0");
  COLLAPSE_CHECK(std::isfinite(s.target) && s.target > 0, "--mse-target ", s.target, " must be > 0");
}

void check_classification_loss_forward(const Tensor& logits, const Tensor& labels, const LossSpec& spec, Tensor& loss,
                                       Tensor& saved) {
  const ArgCheck check("classification_loss_forward");
  check_scores_and_labels(check, logits, "logits", labels);
  check_loss_spec(spec);
  check.same_dtype(loss, "loss", logits, "logits");
  check.shape(loss, "loss", {1});
  check.like(saved, "saved", logits, "logits");
}

void check_classification_loss_backward(const Tensor& saved, const Tensor& labels, const LossSpec&, double,
                                        Tensor& dlogits) {
  const ArgCheck check("classification_loss_backward");
  check_scores_and_labels(check, saved, "saved", labels);
  check.like(dlogits, "dlogits", saved, "saved");
}

}  // namespace collapse
