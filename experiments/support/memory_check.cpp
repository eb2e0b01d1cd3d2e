#include "experiments/support/memory_check.h"

#include <cstdio>
#include <optional>
#include <string>

#include "core/available_memory.h"
#include "core/error.h"
#include "data/registry.h"
#include "layers/models/parameter_estimate.h"

namespace collapse::experiment {
namespace {

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace

void check_model_fits_memory(const ExperimentConfig& c) {
  const std::optional<AvailableMemory> available = available_memory();
  if (!available) return;
  const DatasetInfo& info = dataset_info(c.dataset);
  const int64_t side = c.image_size > 0 ? c.image_size : info.image.height;
  const double parameters = estimated_parameter_count(
      ModelConfig{c.arch, c.depth, c.width, info.image.channels, side, info.num_classes, c.growth_rate});
  const double needed = parameters * kTrainingBytesPerParameter;
  if (needed <= static_cast<double>(available->bytes)) return;
  char count[32];
  std::snprintf(count, sizeof(count), "%.3g", parameters);
  COLLAPSE_FAIL("--width ", c.width, ": ", c.arch, c.depth, " at this width has ~", count,
                " parameters, which need ~", gib(needed), " for training (weights, gradients, momentum, checkpoint "
                "copy) before any activation; this machine has ", gib(static_cast<double>(available->bytes)),
                " available (", available->source, "). Use a smaller --width");
}

}  // namespace collapse::experiment
