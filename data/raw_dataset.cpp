#include "data/raw_dataset.h"

#include <cstring>

#include "core/error.h"

namespace collapse {

const char* split_name(Split split) { return split == Split::train ? "train" : "test"; }

void check_raw_dataset(const RawDataset& ds, const std::string& what) {
  COLLAPSE_CHECK(ds.n >= 0 && ds.channels > 0 && ds.height > 0 && ds.width > 0, what, ": bad image shape ",
                 ds.channels, "x", ds.height, "x", ds.width);
  COLLAPSE_CHECK(static_cast<int64_t>(ds.pixels.size()) == ds.n * ds.image_bytes(), what, ": ", ds.pixels.size(),
                 " pixel bytes for ", ds.n, " images of ", ds.image_bytes(), " bytes");
  COLLAPSE_CHECK(static_cast<int64_t>(ds.labels.size()) == ds.n, what, ": ", ds.labels.size(), " labels for ",
                 ds.n, " images");
  COLLAPSE_CHECK(static_cast<int64_t>(ds.class_names.size()) == ds.num_classes, what, ": ", ds.class_names.size(),
                 " class names for ", ds.num_classes, " classes");
  for (int64_t i = 0; i < ds.n; ++i)
    COLLAPSE_CHECK(ds.labels[i] >= 0 && ds.labels[i] < ds.num_classes, what, ": label ", ds.labels[i],
                   " of example ", i, " is out of range [0, ", ds.num_classes, ")");
}

std::vector<int64_t> class_counts(const std::vector<int64_t>& labels, int64_t num_classes) {
  std::vector<int64_t> counts(num_classes, 0);
  for (int64_t y : labels) {
    COLLAPSE_CHECK(y >= 0 && y < num_classes, "class_counts: label ", y, " out of range [0, ", num_classes, ")");
    ++counts[y];
  }
  return counts;
}

RawDataset select_examples(const RawDataset& ds, const std::vector<int64_t>& indices) {
  RawDataset out;
  out.n = static_cast<int64_t>(indices.size());
  out.channels = ds.channels;
  out.height = ds.height;
  out.width = ds.width;
  out.num_classes = ds.num_classes;
  out.class_names = ds.class_names;
  out.pixels.resize(static_cast<size_t>(out.n * ds.image_bytes()));
  out.labels.resize(indices.size());
  for (int64_t k = 0; k < out.n; ++k) {
    const int64_t i = indices[k];
    COLLAPSE_CHECK(i >= 0 && i < ds.n, "select_examples: index ", i, " out of range [0, ", ds.n, ")");
    std::memcpy(out.image(k), ds.image(i), static_cast<size_t>(ds.image_bytes()));
    out.labels[k] = ds.labels[i];
  }
  return out;
}

}  // namespace collapse
