#include "data/registry.h"

#include "core/error.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {
// Debian's dataset-fashion-mnist package installs the four official IDX files here.
const char* const kDebianFashionMnist = "/usr/share/datasets/fashion-mnist";
}  // namespace

const std::vector<DatasetInfo>& dataset_infos() {
  // Per-class training counts from NEURAL_COLLAPSE.md section 1: MNIST, SVHN and ImageNet are
  // subsampled; the others use every training example.
  static const std::vector<DatasetInfo> infos = {
      {"mnist", "mnist", 10, {1, 32, 32}, 5000},
      {"fashion-mnist", "fashion-mnist", 10, {1, 32, 32}, 0},
      {"kmnist", "kmnist", 10, {1, 32, 32}, 0},
      {"svhn", "svhn", 10, {3, 32, 32}, 4600},
      {"cifar10", "cifar10/cifar-10-batches-bin", 10, {3, 32, 32}, 0},
      {"cifar100", "cifar100/cifar-100-binary", 100, {3, 32, 32}, 0},
      {"stl10", "stl10/stl10_binary", 10, {3, 96, 96}, 0},
      {"imagenet", "imagenet", 1000, {3, 224, 224}, 600},
  };
  return infos;
}

std::string dataset_names() {
  std::string names;
  for (const DatasetInfo& info : dataset_infos()) names += (names.empty() ? "" : ", ") + info.name;
  return names;
}

const DatasetInfo& dataset_info(const std::string& name) {
  for (const DatasetInfo& info : dataset_infos())
    if (info.name == name) return info;
  COLLAPSE_FAIL("unknown dataset '", name, "'; valid names: ", dataset_names());
}

fs::path dataset_directory(const DatasetInfo& info, const fs::path& root) {
  const fs::path dir = root / info.folder;
  if (info.name == "fashion-mnist" && !fs::exists(dir) && fs::exists(kDebianFashionMnist)) return kDebianFashionMnist;
  return dir;
}

}  // namespace collapse
