#pragma once
// Dataset: random access to normalised examples, the only thing the DataLoader needs. Two kinds exist:
// NormalizedDataset (every image precomputed as float32 once; the small datasets) and
// ImageFolderDataset (decoded and normalised on demand; ImageNet, which does not fit in memory).
#include <cstdint>

namespace collapse {

struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
  bool operator==(const ImageShape&) const = default;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual ImageShape image_shape() const = 0;  // what the network sees: after padding or cropping
  virtual int64_t num_classes() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  // Writes example i as image_shape().numel() floats in HWC order (a channels-last batch row).
  // Must be safe to call concurrently: the prefetch thread and the caller may both read.
  virtual void write_example(int64_t i, float* hwc) const = 0;
};

}  // namespace collapse
