#pragma once
// The dataset registry: the paper's eight datasets by name, where their files live under --data-root,
// and the one call that turns them into normalised training and test sets following the protocol of
// NEURAL_COLLAPSE.md section 1 (balanced training subset, statistics of that subset, padding before
// normalisation, no augmentation, test sets unchanged).
//
// --data-root layout (the folders the official archives unpack to):
//   <root>/mnist/, <root>/fashion-mnist/, <root>/kmnist/       IDX files, .gz or not
//   <root>/svhn/                                              train_32x32.mat, test_32x32.mat
//   <root>/cifar10/cifar-10-batches-bin/                      data_batch_1..5.bin, test_batch.bin
//   <root>/cifar100/cifar-100-binary/                         train.bin, test.bin
//   <root>/stl10/stl10_binary/                                {train,test}_{X,y}.bin
//   <root>/imagenet/                                          train/<wnid>/, val/<wnid>/, synsets.txt
// FashionMNIST falls back to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) when
// <root>/fashion-mnist is absent.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/channel_stats.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/raw_dataset.h"

namespace collapse {

struct DatasetInfo {
  std::string name;             // "cifar10"
  std::string folder;           // relative to --data-root: "cifar10/cifar-10-batches-bin"
  int64_t num_classes = 0;
  ImageShape image;             // what the network sees, after padding (28 -> 32) or cropping (224)
  int64_t train_per_class = 0;  // the paper's training examples per class; 0 = all of them
};

const std::vector<DatasetInfo>& dataset_infos();
// Unknown name -> collapse::Error listing the valid names.
const DatasetInfo& dataset_info(const std::string& name);
std::string dataset_names();  // "mnist, fashion-mnist, ..."
std::filesystem::path dataset_directory(const DatasetInfo& info, const std::filesystem::path& root);

inline constexpr int64_t kDefaultPerClass = -1;

struct LoadOptions {
  // kDefaultPerClass: the paper's count (DatasetInfo::train_per_class); 0: every training example;
  // n > 0: n per class, drawn with `seed`.
  int64_t train_per_class = kDefaultPerClass;
  uint64_t seed = 0;
  // A long-tailed training set (data/subsample.h imbalanced_counts): class c keeps counts[c] of the
  // per-class draw, the largest class all of it. 1: balanced.
  double imbalance_ratio = 1.0;
  std::string imbalance_profile = "exp";
  bool coarse_labels = false;     // cifar100: the 20 superclasses instead of the 100 classes
  bool lazy_images = true;        // imagenet: decode in the loader; false decodes every image up front
  // imagenet, lazy_images: decode up front anyway when the decoded subset (raw bytes and normalised floats)
  // fits in this many bytes
  int64_t eager_bytes = int64_t{1} << 30;
  bool skip_undecodable = false;  // imagenet: warn about and leave out files that cannot be decoded
  ResizeCrop image_prep;          // imagenet: resize and crop sizes
};

// One split exactly as the files hold it (imagenet: decoded eagerly, so only for small copies).
RawDataset read_raw_split(const std::string& name, const std::filesystem::path& root, Split split,
                          const LoadOptions& options = {});

struct LoadedDataset {
  DatasetInfo info;  // num_classes and image shape as loaded (coarse labels, crop size)
  std::vector<std::string> class_names;
  ChannelStats stats;  // of the (rebalanced) training set, unpadded, pixels scaled to [0, 1]
  std::vector<int64_t> train_class_counts;
  // Which training examples were kept, ascending: positions in the training split as its files hold it
  // (an image folder: in its sorted file list, over the classes trained). train's example i is
  // train_indices[i]. So another framework can train on exactly this subset (nc-experiment writes it to
  // the run folder as train_indices.npy).
  std::vector<int64_t> train_indices;
  std::shared_ptr<const Dataset> train, test;
};

// Reads both splits, rebalances the training set, computes its statistics and normalises both splits
// with them. Errors: unknown name, missing or malformed files, a class with too few training examples
// for the subsample, a class with no training example.
LoadedDataset load_dataset(const std::string& name, const std::filesystem::path& root,
                           const LoadOptions& options = {});

}  // namespace collapse
