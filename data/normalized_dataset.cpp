#include "data/normalized_dataset.h"

#include <cstring>

#include "core/error.h"
#include "data/pixel_normalizer.h"

namespace collapse {

NormalizedDataset::NormalizedDataset(const RawDataset& raw, const ChannelStats& stats, ImageShape shape)
    : shape_(shape), num_classes_(raw.num_classes), labels_(raw.labels) {
  COLLAPSE_CHECK(shape.channels == raw.channels && static_cast<int64_t>(stats.mean.size()) == raw.channels,
                 "NormalizedDataset: ", raw.channels, "-channel images, ", stats.mean.size(),
                 "-channel statistics, target shape with ", shape.channels, " channels");
  // Checked here, not inside the parallel loop, where an exception could not escape.
  COLLAPSE_CHECK(shape.height >= raw.height && shape.width >= raw.width, "NormalizedDataset: cannot pad ",
                 raw.height, "x", raw.width, " images to ", shape.height, "x", shape.width);
  const PixelNormalizer normalizer(stats);
  values_ = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(raw.n * shape.numel()));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < raw.n; ++i)
    normalizer.normalize(raw.image(i), raw.height, raw.width, shape.height, shape.width,
                         values_.get() + i * shape.numel());
}

void NormalizedDataset::write_example(int64_t i, float* hwc) const {
  std::memcpy(hwc, example(i), static_cast<size_t>(shape_.numel()) * sizeof(float));
}

}  // namespace collapse
