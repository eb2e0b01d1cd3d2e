// read_raw_split and load_dataset (declared in registry.h): from a dataset name to files to tensors' sources.
#include <algorithm>
#include <memory>

#include "core/error.h"
#include "core/rng.h"
#include "data/cifar_reader.h"
#include "data/class_names.h"
#include "data/idx_reader.h"
#include "data/image_folder.h"
#include "data/image_folder_dataset.h"
#include "data/normalized_dataset.h"
#include "data/registry.h"
#include "data/seed_streams.h"
#include "data/stl10_reader.h"
#include "data/subsample.h"
#include "data/svhn_reader.h"
#include "data/warn.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {

RawDataset read_split_from(const DatasetInfo& info, const fs::path& dir, Split split, const LoadOptions& options) {
  const std::string& name = info.name;
  if (name == "mnist") return read_mnist_family(dir, split, 10, numbered_class_names(10));
  if (name == "fashion-mnist")
    return read_mnist_family(dir, split, 10,
                             {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot"});
  if (name == "kmnist") return read_mnist_family(dir, split, 10, read_kmnist_class_names(dir / "kmnist_classmap.csv"));
  if (name == "svhn") return read_svhn(dir, split);
  if (name == "cifar10") return read_cifar10(dir, split);
  if (name == "cifar100") return read_cifar100(dir, split, options.coarse_labels);
  if (name == "stl10") return read_stl10(dir, split);
  if (name == "imagenet")
    return read_image_folder(index_image_folder(dir, split), {options.image_prep, options.skip_undecodable});
  COLLAPSE_FAIL("no reader for dataset '", name, "'");
}

std::string describe(const DatasetInfo& info, const fs::path& dir, Split split) {
  return info.name + " " + split_name(split) + " set (" + dir.string() + ")";
}

void warn_about_empty_test_classes(const std::vector<int64_t>& labels, int64_t num_classes, const std::string& what) {
  const std::vector<int64_t> counts = class_counts(labels, num_classes);
  int64_t empty = 0;
  for (int64_t c : counts) empty += c == 0;
  if (empty > 0) data_warning(what, ": ", empty, " of ", num_classes, " classes have no test example");
}

// ImageNet: the subset is drawn from the file list, so only the chosen files are ever decoded.
LoadedDataset load_image_folder(LoadedDataset out, const fs::path& dir, int64_t per_class, Generator& gen,
                                const LoadOptions& options) {
  ImageFolderIndex all_train = index_image_folder(dir, Split::train);
  ImageFolderIndex test = index_image_folder(dir, Split::test);
  // A partial copy (Imagenette: 10 of the 1000 classes have train/ folders) is the problem over the classes
  // it trains on; test images of the other classes could only ever be misclassified.
  const std::vector<int64_t> trained = classes_present(all_train);
  if (!trained.empty() && static_cast<int64_t>(trained.size()) < all_train.num_classes) {
    const int64_t of = all_train.num_classes;
    restrict_to_classes(all_train, trained);
    const int64_t dropped = restrict_to_classes(test, trained);
    data_warning(describe(out.info, dir, Split::train), ": ", trained.size(), " of ", of,
                 " classes have training images; training a ", trained.size(), "-class problem (labels 0..",
                 trained.size() - 1, " in synset order) and leaving out ", dropped,
                 " test images of the other classes");
  }
  out.train_indices = training_subset(all_train.labels, all_train.num_classes, per_class, gen,
                                      all_train.class_names, describe(out.info, dir, Split::train));
  ImageFolderIndex train = select_entries(all_train, out.train_indices);
  out.info.num_classes = train.num_classes;
  out.info.image = {3, options.image_prep.crop, options.image_prep.crop};
  out.class_names = train.class_names;
  // Decoding on demand costs a JPEG decode per image per epoch; a subset whose decoded pixels (bytes, then
  // the normalised float copy) fit in options.eager_bytes is decoded once up front instead.
  const int64_t decoded_bytes = static_cast<int64_t>(train.files.size() + test.files.size()) * 3 *
                                options.image_prep.crop * options.image_prep.crop *
                                static_cast<int64_t>(1 + sizeof(float));
  if (options.lazy_images && decoded_bytes > options.eager_bytes) {
    out.stats = image_folder_channel_stats(train, options.image_prep, options.skip_undecodable);
    if (options.skip_undecodable) drop_unreadable_images(test);
    out.train_class_counts = class_counts(train.labels, train.num_classes);
    warn_about_empty_test_classes(test.labels, test.num_classes, describe(out.info, dir, Split::test));
    out.train = std::make_shared<ImageFolderDataset>(std::move(train), out.stats, options.image_prep);
    out.test = std::make_shared<ImageFolderDataset>(std::move(test), out.stats, options.image_prep);
    return out;
  }
  const ImageFolderReadOptions read{options.image_prep, options.skip_undecodable};
  const RawDataset raw_train = read_image_folder(train, read);
  const RawDataset raw_test = read_image_folder(test, read);
  out.stats = compute_channel_stats(raw_train);
  out.train_class_counts = class_counts(raw_train.labels, raw_train.num_classes);
  warn_about_empty_test_classes(raw_test.labels, raw_test.num_classes, describe(out.info, dir, Split::test));
  out.train = std::make_shared<NormalizedDataset>(raw_train, out.stats, out.info.image);
  out.test = std::make_shared<NormalizedDataset>(raw_test, out.stats, out.info.image);
  return out;
}

}  // namespace

RawDataset read_raw_split(const std::string& name, const fs::path& root, Split split, const LoadOptions& options) {
  const DatasetInfo& info = dataset_info(name);
  return read_split_from(info, dataset_directory(info, root), split, options);
}

LoadedDataset load_dataset(const std::string& name, const fs::path& root, const LoadOptions& options) {
  LoadedDataset out;
  out.info = dataset_info(name);
  const fs::path dir = dataset_directory(out.info, root);
  const int64_t per_class =
      options.train_per_class == kDefaultPerClass ? out.info.train_per_class : options.train_per_class;
  Generator gen = derived_generator(options.seed, kSubsampleStream);
  COLLAPSE_CHECK(options.imbalance_ratio == 1.0 || out.info.name != "imagenet",
                 "--imbalance: not for imagenet (its subset is an image folder; make it long-tailed there)");
  if (out.info.name == "imagenet") return load_image_folder(std::move(out), dir, per_class, gen, options);

  RawDataset train = read_split_from(out.info, dir, Split::train, options);
  std::vector<int64_t> kept = training_subset(train.labels, train.num_classes, per_class, gen, train.class_names,
                                              describe(out.info, dir, Split::train));
  if (options.imbalance_ratio != 1.0) {
    // n: the per-class draw, or (every example kept) the smallest class.
    const std::vector<int64_t> have = class_counts(train.labels, train.num_classes);
    const int64_t n = per_class > 0 ? per_class : *std::min_element(have.begin(), have.end());
    kept = first_of_each_class(kept, train.labels,
                               imbalanced_counts(n, train.num_classes, options.imbalance_ratio, options.imbalance_profile));
  }
  if (static_cast<int64_t>(kept.size()) != train.n) train = select_examples(train, kept);
  out.train_indices = std::move(kept);
  const RawDataset test = read_split_from(out.info, dir, Split::test, options);
  warn_about_empty_test_classes(test.labels, test.num_classes, describe(out.info, dir, Split::test));

  out.info.num_classes = train.num_classes;
  out.class_names = train.class_names;
  out.train_class_counts = class_counts(train.labels, train.num_classes);
  out.stats = compute_channel_stats(train);
  out.train = std::make_shared<NormalizedDataset>(train, out.stats, out.info.image);
  out.test = std::make_shared<NormalizedDataset>(test, out.stats, out.info.image);
  return out;
}

}  // namespace collapse
