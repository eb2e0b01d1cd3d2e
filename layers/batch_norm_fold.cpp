#include "layers/batch_norm_fold.h"

#include <cmath>

#include "core/error.h"

namespace collapse {

namespace {
const EnvSwitch& folding_switch() {
  static const EnvSwitch s("COLLAPSE_FOLD_BATCH_NORM", true);
  return s;
}
}  // namespace

bool batch_norm_folding_enabled() { return folding_switch().enabled(); }
const char* batch_norm_folding_status() { return folding_switch().status(); }
BatchNormFoldingGuard::BatchNormFoldingGuard(bool enabled) : guard_(folding_switch(), enabled) {}

FoldedConv fold_batch_norm(const Tensor& w, const Tensor& conv_bias, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, double eps) {
  const int64_t channels = w.size(0);
  COLLAPSE_CHECK(w.numel() % channels == 0 && gamma.numel() == channels && beta.numel() == channels &&
                     running_mean.numel() == channels && running_var.numel() == channels &&
                     (!conv_bias.defined() || conv_bias.numel() == channels),
                 "fold_batch_norm: a batch norm over ", gamma.numel(), " channels cannot follow a convolution with ",
                 channels, " output channels");
  const std::vector<double> g = gamma.to_double_vector(), be = beta.to_double_vector();
  const std::vector<double> mean = running_mean.to_double_vector(), var = running_var.to_double_vector();
  const std::vector<double> cb = conv_bias.defined() ? conv_bias.to_double_vector() : std::vector<double>(channels);
  std::vector<double> weight = w.to_double_vector(), bias(static_cast<size_t>(channels));
  const int64_t per_channel = w.numel() / channels;
  for (int64_t c = 0; c < channels; ++c) {
    const double s = g[c] / std::sqrt(var[c] + eps);
    for (int64_t i = 0; i < per_channel; ++i) weight[c * per_channel + i] *= s;
    bias[c] = be[c] + (cb[c] - mean[c]) * s;
  }
  return {Tensor::from_vector(weight, w.shape()).to(w.dtype()).to(w.device()),
          Tensor::from_vector(bias, {channels}).to(w.dtype()).to(w.device())};
}

std::vector<BatchNormFold::Source> BatchNormFold::sources_of(const std::vector<const Tensor*>& tensors) {
  std::vector<Source> out;
  for (const Tensor* t : tensors)
    out.push_back(t->defined() ? Source{true, t->storage(), t->offset(), t->storage()->version()}
                               : Source{false, {}, 0, 0});
  return out;
}

bool BatchNormFold::same(const std::vector<Source>& a, const std::vector<Source>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].defined != b[i].defined) return false;
    if (!a[i].defined) continue;
    const auto sa = a[i].storage.lock();
    if (!sa || sa != b[i].storage.lock() || a[i].offset != b[i].offset || a[i].version != b[i].version) return false;
  }
  return true;
}

const FoldedConv& BatchNormFold::get(const Tensor& w, const Tensor& conv_bias, const Tensor& gamma,
                                     const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                     double eps) {
  std::vector<Source> now = sources_of({&w, &conv_bias, &gamma, &beta, &running_mean, &running_var});
  if (!folded_.weight.defined() || eps != eps_ || !same(now, sources_)) {
    folded_ = fold_batch_norm(w, conv_bias, gamma, beta, running_mean, running_var, eps);
    sources_ = std::move(now);
    eps_ = eps;
  }
  return folded_;
}

}  // namespace collapse
