#pragma once
// A view of some examples of another dataset, by index (a smaller test set for quick runs).
#include <memory>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"

namespace collapse {

class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
      : base_(std::move(base)), indices_(std::move(indices)) {
    for (int64_t i : indices_)
      COLLAPSE_CHECK(i >= 0 && i < base_->size(), "SubsetDataset: index ", i, " outside [0, ", base_->size(), ")");
  }
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  ImageShape image_shape() const override { return base_->image_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t label(int64_t i) const override { return base_->label(indices_[i]); }
  void write_example(int64_t i, float* hwc) const override { base_->write_example(indices_[i], hwc); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

// The first `per_class` examples of every class, in dataset order (deterministic: test sets are never
// drawn at random). A class with fewer keeps all of its examples.
inline std::shared_ptr<const Dataset> first_per_class(std::shared_ptr<const Dataset> base, int64_t per_class) {
  std::vector<int64_t> taken(base->num_classes(), 0), indices;
  for (int64_t i = 0; i < base->size(); ++i) {
    const int64_t y = base->label(i);
    if (taken[y] < per_class) {
      ++taken[y];
      indices.push_back(i);
    }
  }
  return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

}  // namespace collapse
