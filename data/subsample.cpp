#include "data/subsample.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/raw_dataset.h"

namespace collapse {

namespace {
std::string class_label(int64_t c, const std::vector<std::string>& names) {
  std::string s = "class " + std::to_string(c);
  if (c < static_cast<int64_t>(names.size())) s += " (" + names[c] + ")";
  return s;
}
}  // namespace

std::vector<int64_t> balanced_subsample(const std::vector<int64_t>& labels, int64_t num_classes, int64_t per_class,
                                        Generator& gen, const std::vector<std::string>& class_names,
                                        const std::string& what) {
  COLLAPSE_CHECK(per_class > 0, what, ": per-class subsample size must be positive, got ", per_class);
  const std::vector<int64_t> counts = class_counts(labels, num_classes);
  for (int64_t c = 0; c < num_classes; ++c)
    COLLAPSE_CHECK(counts[c] >= per_class, what, ": ", class_label(c, class_names), " has ", counts[c],
                   " examples, fewer than the ", per_class, " per class requested");

  std::vector<std::vector<int64_t>> members(num_classes);
  for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) members[labels[i]].push_back(i);
  std::vector<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(num_classes * per_class));
  for (auto& m : members) {
    // A partial Fisher-Yates shuffle: the first per_class slots become a uniform draw without replacement.
    for (int64_t k = 0; k < per_class; ++k) {
      const int64_t j = k + static_cast<int64_t>(gen.below(static_cast<uint64_t>(m.size() - k)));
      std::swap(m[k], m[j]);
    }
    chosen.insert(chosen.end(), m.begin(), m.begin() + per_class);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::vector<int64_t> training_subset(const std::vector<int64_t>& labels, int64_t num_classes, int64_t per_class,
                                     Generator& gen, const std::vector<std::string>& class_names,
                                     const std::string& what) {
  COLLAPSE_CHECK(per_class >= 0, what, ": per-class training count must be 0 (all) or positive, got ", per_class);
  if (per_class > 0) return balanced_subsample(labels, num_classes, per_class, gen, class_names, what);
  check_no_empty_class(labels, num_classes, class_names, what);
  std::vector<int64_t> all(labels.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return all;
}

void check_no_empty_class(const std::vector<int64_t>& labels, int64_t num_classes,
                          const std::vector<std::string>& class_names, const std::string& what) {
  const std::vector<int64_t> counts = class_counts(labels, num_classes);
  for (int64_t c = 0; c < num_classes; ++c)
    COLLAPSE_CHECK(counts[c] > 0, what, ": ", class_label(c, class_names), " has no examples");
}

std::vector<int64_t> imbalanced_counts(int64_t n, int64_t num_classes, double ratio, const std::string& profile) {
  COLLAPSE_CHECK(std::isfinite(ratio) && ratio >= 1.0, "--imbalance ", ratio, ": the ratio of the largest class to "
                 "the smallest must be >= 1");
  COLLAPSE_CHECK(profile == "exp" || profile == "step", "--imbalance-profile '", profile, "': exp or step");
  std::vector<int64_t> counts(static_cast<size_t>(num_classes));
  for (int64_t c = 0; c < num_classes; ++c) {
    const double fraction = profile == "exp"
                                ? std::pow(ratio, num_classes > 1 ? -static_cast<double>(c) / (num_classes - 1) : 0.0)
                                : (c < num_classes / 2 ? 1.0 : 1.0 / ratio);
    counts[static_cast<size_t>(c)] = std::max<int64_t>(1, std::llround(static_cast<double>(n) * fraction));
  }
  return counts;
}

std::vector<int64_t> first_of_each_class(const std::vector<int64_t>& indices, const std::vector<int64_t>& labels,
                                     const std::vector<int64_t>& counts) {
  std::vector<int64_t> taken(counts.size(), 0), out;
  for (int64_t i : indices) {
    const auto c = static_cast<size_t>(labels[static_cast<size_t>(i)]);
    if (taken[c] < counts[c]) {
      ++taken[c];
      out.push_back(i);
    }
  }
  for (size_t c = 0; c < counts.size(); ++c)
    COLLAPSE_CHECK(taken[c] == counts[c], "imbalanced subset: class ", c, " has ", taken[c], " examples, ", counts[c],
                   " wanted");
  return out;
}

}  // namespace collapse
