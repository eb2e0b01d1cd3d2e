#pragma once
// A Dataset held in memory, for tests of what reads one (the DataLoader, the trainer, the analysis): images
// given as HWC floats with their labels, or made example by example from two functions. Header-only.
//
//   auto data = std::make_shared<MemoryDataset>(ImageShape{1, 1, 3}, 4, values, labels);
//   auto toy = memory_dataset(10, {2, 3, 4}, 3, [](int64_t i) { return i % 3; },
//                             [](int64_t i, int64_t y, int64_t x, int64_t c) { return float(i + y); });
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"

namespace collapse::testing {

class MemoryDataset : public Dataset {
 public:
  // values: size() images of shape.numel() floats each, HWC (a channels-last batch row); labels in [0, classes).
  MemoryDataset(ImageShape shape, int64_t classes, std::vector<float> values, std::vector<int64_t> labels)
      : shape_(shape), classes_(classes), values_(std::move(values)), labels_(std::move(labels)) {
    COLLAPSE_CHECK(static_cast<int64_t>(values_.size()) == size() * shape_.numel(), "MemoryDataset: ",
                   values_.size(), " values for ", size(), " images of ", shape_.numel());
  }

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  ImageShape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return classes_; }
  int64_t label(int64_t i) const override { return labels_[static_cast<size_t>(i)]; }
  // Safe to call concurrently (reads only). Throws for the example set by break_example.
  void write_example(int64_t i, float* hwc) const override {
    COLLAPSE_CHECK(i != broken_, "example ", i, " is broken (MemoryDataset::break_example)");
    std::copy_n(values_.data() + i * shape_.numel(), shape_.numel(), hwc);
  }

  // From now on write_example(i) throws collapse::Error "example i is broken" (error paths of readers).
  void break_example(int64_t i) { broken_ = i; }

  const std::vector<float>& values() const { return values_; }
  const std::vector<int64_t>& labels() const { return labels_; }

 private:
  ImageShape shape_;
  int64_t classes_;
  std::vector<float> values_;
  std::vector<int64_t> labels_;
  int64_t broken_ = -1;
};

// n examples of `shape`: example i has label(i) and the value pixel(i, y, x, c) at row y, column x, channel c.
inline std::shared_ptr<MemoryDataset> memory_dataset(
    int64_t n, ImageShape shape, int64_t classes, const std::function<int64_t(int64_t i)>& label,
    const std::function<float(int64_t i, int64_t y, int64_t x, int64_t c)>& pixel) {
  std::vector<float> values;
  std::vector<int64_t> labels;
  values.reserve(static_cast<size_t>(n * shape.numel()));
  for (int64_t i = 0; i < n; ++i) {
    labels.push_back(label(i));
    for (int64_t y = 0; y < shape.height; ++y)
      for (int64_t x = 0; x < shape.width; ++x)
        for (int64_t c = 0; c < shape.channels; ++c) values.push_back(pixel(i, y, x, c));
  }
  return std::make_shared<MemoryDataset>(shape, classes, std::move(values), std::move(labels));
}

}  // namespace collapse::testing
