// DeepFool (nc/deepfool.h) and the "deepfool" measurement: mean ‖r(x)‖/‖x‖ over random test images.
#include "nc/deepfool.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/rng.h"
#include "nc/measurements.h"

namespace collapse::nc {
namespace {

// The values of a tensor in logical (row-major NCHW) order, as doubles on the host: all the perturbation
// arithmetic happens here, in one layout, whatever the model's dtype, layout and device.
std::vector<double> host_values(const Tensor& t) {
  const Tensor c = t.to(Device::cpu()).contiguous().to(DType::f64);
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}

double norm(const std::vector<double>& v) {
  return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
}

int64_t argmax(const std::vector<double>& v) {
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The model input at a given point: `values` (row-major) in the layout, dtype and device of `like`.
Tensor model_input(const std::vector<double>& values, const Tensor& like) {
  Tensor input = Tensor::empty_activation(like.shape(), like.dtype(), like.device());
  input.copy_(Tensor::from_vector(values, like.shape()));
  return input;
}

// For the search: eval mode, and parameters that want no gradient (the backward passes then skip every
// weight gradient, and the optimizer's .grad buffers stay untouched). Both restored on every exit path.
class InputGradientScope {
 public:
  explicit InputGradientScope(Network& model)
      : model_(model), was_training_(model.is_training()), parameters_(model.parameters()) {
    for (auto& p : parameters_) {
      wanted_grad_.push_back(p.requires_grad());
      p.set_requires_grad(false);
    }
    model_.eval();
  }
  ~InputGradientScope() {
    for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].set_requires_grad(wanted_grad_[i]);
    model_.train(was_training_);
  }
  InputGradientScope(const InputGradientScope&) = delete;
  InputGradientScope& operator=(const InputGradientScope&) = delete;

 private:
  Network& model_;
  bool was_training_;
  std::vector<Variable> parameters_;
  std::vector<bool> wanted_grad_;
};

// The candidate classes other than `leave`: the top `count` classes by logit at x_0 (count includes
// `leave` itself, as in the reference implementation), or all classes when count is 0.
std::vector<int64_t> candidate_classes(const std::vector<double>& logits, int64_t leave, int64_t count) {
  std::vector<int64_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  if (count > 0 && count < static_cast<int64_t>(order.size())) order.resize(static_cast<size_t>(count));
  order.erase(std::remove(order.begin(), order.end(), leave), order.end());
  return order;
}

struct NearestBoundary {
  std::vector<double> direction;  // w'_l = ∇(f_l − f_k̂)
  double logit_gap = 0;           // f'_l = f_l − f_k̂ (negative while k̂ wins)
  double distance = INFINITY;     // |f'_l| / ‖w'_l‖
};

// One linearisation: the gradient of each candidate's logit difference by one backward pass seeded with
// e_k − e_k̂ (so no pass per logit is needed), the graph kept between passes.
NearestBoundary nearest_linearised_boundary(Variable& x, const Variable& logits, const std::vector<double>& z,
                                            int64_t leave, const std::vector<int64_t>& candidates) {
  NearestBoundary best;
  const Tensor& out = logits.data();
  for (size_t j = 0; j < candidates.size(); ++j) {
    const int64_t k = candidates[j];
    std::vector<double> seed(z.size(), 0.0);
    seed[static_cast<size_t>(k)] = 1.0;
    seed[static_cast<size_t>(leave)] = -1.0;
    x.zero_grad();
    const bool last = j + 1 == candidates.size();
    logits.backward(Tensor::from_vector(seed, out.shape()).to(out.dtype()).to(out.device()), /*retain_graph=*/!last);
    std::vector<double> gradient = host_values(x.grad());
    const double gradient_norm = norm(gradient);
    if (gradient_norm == 0) continue;  // the linearisation has no boundary with this class
    const double gap = z[static_cast<size_t>(k)] - z[static_cast<size_t>(leave)];
    const double distance = std::abs(gap) / gradient_norm;
    if (distance < best.distance) best = {std::move(gradient), gap, distance};
  }
  return best;
}

}  // namespace

int64_t predicted_class(Network& model, const Tensor& image) {
  const bool was_training = model.is_training();
  NoGradGuard no_grad;
  model.eval();
  std::vector<double> z;
  try {
    z = host_values(model(Variable(image)).data());
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return argmax(z);
}

DeepFoolResult deepfool(Network& model, const Tensor& image, int64_t label_or_prediction,
                        const DeepFoolOptions& options) {
  COLLAPSE_CHECK(image.dim() == 4 && image.size(0) == 1, "deepfool: expects one image [1, C, H, W], got ",
                 image.str());
  COLLAPSE_CHECK(grad_mode_enabled(), "deepfool: needs input gradients; do not call it under NoGradGuard");
  COLLAPSE_CHECK(options.max_iter >= 0 && options.overshoot >= 0, "deepfool: max_iter and overshoot must be >= 0");
  COLLAPSE_CHECK(options.candidate_classes == 0 || options.candidate_classes >= 2,
                 "deepfool: candidate_classes counts the original class too: use 0 (all) or at least 2");
  InputGradientScope scope(model);

  const std::vector<double> x0 = host_values(image);
  std::vector<double> r_tot(x0.size(), 0.0), point = x0;
  DeepFoolResult result;
  result.original_class = label_or_prediction;
  result.image_norm = norm(x0);
  std::vector<int64_t> candidates;

  for (;;) {
    Variable x(model_input(point, image), /*requires_grad=*/true);
    const Variable logits = model(x);
    const std::vector<double> z = host_values(logits.data());
    COLLAPSE_CHECK(label_or_prediction >= 0 && label_or_prediction < static_cast<int64_t>(z.size()),
                   "deepfool: class ", label_or_prediction, " outside [0, ", z.size(), ")");
    result.final_class = argmax(z);
    if (result.final_class != label_or_prediction) {
      result.fooled = true;
      break;
    }
    if (result.iterations >= options.max_iter) break;
    if (candidates.empty()) candidates = candidate_classes(z, label_or_prediction, options.candidate_classes);

    const NearestBoundary nearest = nearest_linearised_boundary(x, logits, z, label_or_prediction, candidates);
    if (nearest.direction.empty()) break;  // every gradient difference vanished: nowhere to step
    const double w_sq = norm(nearest.direction) * norm(nearest.direction);
    const double step = (std::abs(nearest.logit_gap) + options.step_epsilon) / w_sq;
    for (size_t i = 0; i < r_tot.size(); ++i) {
      r_tot[i] += step * nearest.direction[i];
      point[i] = x0[i] + (1.0 + options.overshoot) * r_tot[i];
    }
    ++result.iterations;
  }

  std::vector<double> r(r_tot.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = (1.0 + options.overshoot) * r_tot[i];
  result.perturbation_norm = norm(r);
  result.perturbation = Tensor::from_vector(r, image.shape()).to(image.dtype());
  return result;
}

namespace {

constexpr int64_t kDeepFoolImages = 100;             // NEURAL_COLLAPSE.md §4
constexpr uint64_t kDeepFoolStream = 0xDEEF'0001;    // derived_generator stream: the same images every epoch

// `count` distinct indices of [0, n), uniformly at random (partial Fisher–Yates).
std::vector<int64_t> random_subset(int64_t n, int64_t count, Generator& gen) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  for (int64_t i = 0; i < count; ++i)
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(i + static_cast<int64_t>(gen.below(n - i)))]);
  all.resize(static_cast<size_t>(count));
  return all;
}

// One dataset example as the network's input [1, C, H, W]: the dataset writes HWC, which is exactly the
// memory of a channels-last tensor with N = 1. Converted to the model's parameter dtype (float64 models
// run on the reference backend) and device.
Tensor example_image(const Dataset& data, int64_t index, DType dtype, Device device) {
  const ImageShape s = data.image_shape();
  Tensor hwc = Tensor::empty({1, s.channels, s.height, s.width}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  data.write_example(index, hwc.data<float>());
  return hwc.to(dtype).to(device);
}

nlohmann::json deepfool_measurement(MeasurementContext& ctx) {
  const DeepFoolOptions options;  // overshoot 0.02, 50 iterations, top-10 candidate classes
  nlohmann::json out = {{"overshoot", options.overshoot},
                        {"max_iter", options.max_iter},
                        {"candidate_classes", options.candidate_classes}};
  if (ctx.test == nullptr || ctx.test->dataset().size() == 0) {
    out.update({{"mean_relative_perturbation", nullptr}, {"images", 0}, {"unfooled", 0}});
    return out;
  }
  const Dataset& test = ctx.test->dataset();
  const std::vector<Variable> parameters = ctx.model.parameters();
  const DType dtype = parameters.empty() ? DType::f32 : parameters.front().data().dtype();
  Generator gen = derived_generator(ctx.seed, kDeepFoolStream);
  const std::vector<int64_t> images = random_subset(test.size(), std::min(kDeepFoolImages, test.size()), gen);

  double relative_sum = 0.0;
  int64_t unfooled = 0, iterations = 0;
  for (int64_t index : images) {
    const Tensor x = example_image(test, index, dtype, ctx.device);
    // DeepFool leaves the model's own decision, right or wrong (the reference implementation's label).
    const DeepFoolResult r = deepfool(ctx.model, x, predicted_class(ctx.model, x), options);
    relative_sum += r.relative_perturbation();
    iterations += r.iterations;
    if (!r.fooled) ++unfooled;
  }
  const auto n = static_cast<double>(images.size());
  // The mean is over every sampled image, unfooled ones included with the perturbation reached at the cap
  // (a lower bound for them); "unfooled" says how many there were.
  out.update({{"mean_relative_perturbation", relative_sum / n},
              {"images", images.size()},
              {"unfooled", unfooled},
              {"mean_iterations", static_cast<double>(iterations) / n}});
  return out;
}

}  // namespace

COLLAPSE_REGISTER_MEASUREMENT("deepfool",
                              "DeepFool robustness: mean ||r(x)||/||x|| over 100 random test images "
                              "(overshoot 0.02, 50 iterations, top-10 candidate classes; expensive)",
                              false, deepfool_measurement);

}  // namespace collapse::nc
