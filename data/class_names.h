#pragma once
// Class names: read from the names file an official archive ships (CIFAR's batches.meta.txt,
// STL10's class_names.txt, ...) or, where the archive has none, the names the dataset's authors publish.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace collapse {

// One name per non-empty line (surrounding whitespace trimmed). When the file exists it must hold exactly
// `num_classes` names (error naming the file otherwise); when it is absent, returns `fallback`.
std::vector<std::string> read_class_names_or(const std::filesystem::path& path, int64_t num_classes,
                                             std::vector<std::string> fallback);

// KMNIST's kmnist_classmap.csv ("index,codepoint,char" with a header line): the hiragana of each class;
// when the file is absent, their romanisations (o, ki, su, tsu, na, ha, ma, ya, re, wo).
std::vector<std::string> read_kmnist_class_names(const std::filesystem::path& csv);

// "0", "1", ..., for datasets whose classes are digits or have no published names.
std::vector<std::string> numbered_class_names(int64_t num_classes);

}  // namespace collapse
