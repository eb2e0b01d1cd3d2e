#pragma once
// The protocol's balanced training subsets (MNIST 5000, SVHN 4600, ImageNet 600 per class), drawn with
// the run's seed, and the check that no class is left empty.
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace collapse {

// Indices of `per_class` examples of every class, each class's drawn uniformly without replacement,
// returned in ascending order (the subset keeps the files' order; shuffling is the loader's job).
// Every class is checked first: a class with fewer than `per_class` examples is an error naming it
// (and `what`, the dataset), so a short class never silently unbalances the set.
std::vector<int64_t> balanced_subsample(const std::vector<int64_t>& labels, int64_t num_classes, int64_t per_class,
                                        Generator& gen, const std::vector<std::string>& class_names,
                                        const std::string& what);

// The protocol's training set as indices (ascending): per_class > 0 draws a balanced subset as above;
// per_class == 0 keeps every example, after checking that no class is empty.
std::vector<int64_t> training_subset(const std::vector<int64_t>& labels, int64_t num_classes, int64_t per_class,
                                     Generator& gen, const std::vector<std::string>& class_names,
                                     const std::string& what);

// Error naming the first class with no example.
void check_no_empty_class(const std::vector<int64_t>& labels, int64_t num_classes,
                          const std::vector<std::string>& class_names, const std::string& what);

// A long-tailed training set (minority collapse, Fang et al., PNAS 2021): per-class counts where the
// largest class keeps n and the smallest n/R (rounded, at least 1).
//   exp:  class c keeps n·R^(−c/(C−1))                     (Cao et al., NeurIPS 2019)
//   step: classes 0 .. ⌊C/2⌋−1 keep n, the others n/R      (Fang et al.'s majority and minority groups)
// R = 1 gives n for every class. The error names the flag for a ratio below 1 or an unknown profile.
std::vector<int64_t> imbalanced_counts(int64_t n, int64_t num_classes, double ratio, const std::string& profile);

// The first counts[c] examples of each class c among `indices` (kept in their order); `labels` is indexed by
// the values of `indices`. A class with fewer than counts[c] is an error.
std::vector<int64_t> first_of_each_class(const std::vector<int64_t>& indices, const std::vector<int64_t>& labels,
                                     const std::vector<int64_t>& counts);

}  // namespace collapse
