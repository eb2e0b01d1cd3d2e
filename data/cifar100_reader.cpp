#include "data/cifar_reader.h"

#include "data/class_names.h"

namespace collapse {

namespace fs = std::filesystem;

RawDataset read_cifar100(const fs::path& dir, Split split, bool coarse) {
  // Record: coarse label byte (20 superclasses), fine label byte (100 classes), pixels.
  constexpr int64_t kCoarse = 20, kFine = 100;
  const CifarRecordFormat format{{kCoarse, kFine}, coarse ? 0 : 1};
  RawDataset ds;
  append_cifar_file(dir / (split == Split::train ? "train.bin" : "test.bin"), format, ds);
  ds.num_classes = coarse ? kCoarse : kFine;
  ds.class_names = read_class_names_or(dir / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"),
                                       ds.num_classes, numbered_class_names(ds.num_classes));
  check_raw_dataset(ds, dir.string());
  return ds;
}

}  // namespace collapse
