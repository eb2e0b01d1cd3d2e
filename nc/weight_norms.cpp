// The weight_norms measurement (nc/weight_norms.h): per-parameter and per-module L2 norms of the weights
// and of the gradients still attached from the epoch's last SGD step.
#include "nc/weight_norms.h"

#include <cmath>
#include <string>
#include <vector>

#include "nc/measurements.h"

namespace collapse::nc {
namespace {

constexpr const char* kGradientMeaning =
    "gradient of the epoch's last SGD step: one mini-batch's mean cross-entropy, at the weights before that "
    "step's update, without weight decay; null before any step";

// Σ t², accumulated in double (copies a CUDA tensor to the host first).
double sum_of_squares(const Tensor& t) {
  double s = 0.0;
  for (double v : t.to_double_vector()) s += v * v;
  return s;
}

nlohmann::json norm_or_null(bool defined, double sum_sq) {
  return defined ? nlohmann::json(std::sqrt(sum_sq)) : nlohmann::json(nullptr);
}

struct Group {
  std::string name;
  double weight_sq = 0.0, grad_sq = 0.0;
  bool has_grad = false;
};

}  // namespace

nlohmann::json weight_norms(const Module& model) {
  nlohmann::json parameters = nlohmann::json::array();
  std::vector<Group> modules;  // in order of first appearance
  Group total;
  int64_t with_grad = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    const double w_sq = sum_of_squares(p.data());
    const bool has_grad = p.grad().defined();
    const double g_sq = has_grad ? sum_of_squares(p.grad()) : 0.0;
    parameters.push_back({{"name", name},
                          {"shape", p.data().shape()},
                          {"weight_norm", std::sqrt(w_sq)},
                          {"grad_norm", norm_or_null(has_grad, g_sq)}});

    const size_t dot = name.rfind('.');
    const std::string owner = dot == std::string::npos ? "" : name.substr(0, dot);
    if (modules.empty() || modules.back().name != owner) modules.push_back({owner});
    for (Group* g : {&modules.back(), &total}) {
      g->weight_sq += w_sq;
      g->grad_sq += g_sq;
      g->has_grad = g->has_grad || has_grad;
    }
    with_grad += has_grad ? 1 : 0;
  }
  nlohmann::json module_list = nlohmann::json::array();
  for (const Group& g : modules)
    module_list.push_back(
        {{"name", g.name}, {"weight_norm", std::sqrt(g.weight_sq)}, {"grad_norm", norm_or_null(g.has_grad, g.grad_sq)}});
  return {{"gradient", kGradientMeaning},
          {"total",
           {{"weight_norm", std::sqrt(total.weight_sq)},
            {"grad_norm", norm_or_null(total.has_grad, total.grad_sq)},
            {"parameters_with_grad", with_grad}}},
          {"modules", std::move(module_list)},
          {"parameters", std::move(parameters)}};
}

// The one line that makes `nc-experiment --measure weight_norms` work.
COLLAPSE_REGISTER_MEASUREMENT("weight_norms",
                              "per-parameter and per-module L2 norms of the weights and of the last SGD step's "
                              "gradients",
                              /*default_on=*/false, [](MeasurementContext& ctx) { return weight_norms(ctx.model); });

}  // namespace collapse::nc
