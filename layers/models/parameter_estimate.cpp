#include "layers/models/parameter_estimate.h"

#include "core/rng.h"

namespace collapse {
namespace {

double built_count(ModelConfig config, double width) {
  config.width = width;
  Generator gen(0);
  return static_cast<double>(build_model(config, gen)->parameter_count());
}

}  // namespace

double estimated_parameter_count(const ModelConfig& config) {
  if (config.width <= kExactUpToWidth) return built_count(config, config.width);
  // Through (w, P(w)) at w = h, 2h, 3h: P(w) = P1 + (w - h) d1 + (w - h)(w - 2h) d2, Newton's form.
  const double h = 0.25;
  const double p1 = built_count(config, h), p2 = built_count(config, 2 * h), p3 = built_count(config, 3 * h);
  const double d1 = (p2 - p1) / h, d2 = (p3 - 2 * p2 + p1) / (2 * h * h);
  const double w = config.width;
  return p1 + (w - h) * d1 + (w - h) * (w - 2 * h) * d2;
}

}  // namespace collapse
