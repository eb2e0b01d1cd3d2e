#pragma once
// NormalizedDataset: every image padded and normalised once, kept as float32 HWC, so a batch is a memcpy
// per example. Memory is 4 bytes per value: MNIST padded to 32x32 is 246 MB for 60000 images,
// CIFAR-10 614 MB, STL-10's 5000 train images 553 MB.
#include <memory>
#include <vector>

#include "data/channel_stats.h"
#include "data/dataset.h"
#include "data/raw_dataset.h"

namespace collapse {

class NormalizedDataset : public Dataset {
 public:
  // Pads each image of `raw` (centred, raw value 0) to `shape`'s height x width, then normalises with `stats`.
  NormalizedDataset(const RawDataset& raw, const ChannelStats& stats, ImageShape shape);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  ImageShape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return num_classes_; }
  int64_t label(int64_t i) const override { return labels_[i]; }
  void write_example(int64_t i, float* hwc) const override;

  const float* example(int64_t i) const { return values_.get() + i * shape_.numel(); }

 private:
  ImageShape shape_;
  int64_t num_classes_ = 0;
  std::vector<int64_t> labels_;
  std::unique_ptr<float[]> values_;  // size() * shape_.numel(), written once (no zero-fill first)
};

}  // namespace collapse
