#pragma once
// RawDataset: one split of a dataset exactly as its files hold it, decoded into memory as 8-bit pixels.
// Every reader produces one; subsampling, statistics and normalisation work on it; nothing here is
// padded or normalised yet.
#include <cstdint>
#include <string>
#include <vector>

namespace collapse {

enum class Split { train, test };
const char* split_name(Split split);  // "train" / "test"

struct RawDataset {
  int64_t n = 0, channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // n * height * width * channels bytes, HWC within each image
  std::vector<int64_t> labels;  // n labels in [0, num_classes)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // num_classes names, in label order

  int64_t image_bytes() const { return height * width * channels; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
  uint8_t* image(int64_t i) { return pixels.data() + i * image_bytes(); }
};

// Checks that the sizes agree, every label is in range and there is one name per class; `what` names
// the source in the error.
void check_raw_dataset(const RawDataset& ds, const std::string& what);

// Number of examples of each class.
std::vector<int64_t> class_counts(const std::vector<int64_t>& labels, int64_t num_classes);

// The examples at `indices`, in that order.
RawDataset select_examples(const RawDataset& ds, const std::vector<int64_t>& indices);

}  // namespace collapse
