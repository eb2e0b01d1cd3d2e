#pragma once
// CIFAR-10 and CIFAR-100, "binary version". Each file is a run of fixed-size records: the label byte(s),
// then 3072 pixel bytes (1024 R, 1024 G, 1024 B, each plane row-major 32x32). Files are read record by
// record until EOF, so files holding fewer records than the official 10000/50000 read correctly; a file
// whose size is not a whole number of records is an error.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/raw_dataset.h"

namespace collapse {

struct CifarRecordFormat {
  std::vector<int64_t> label_classes;  // one entry per label byte: its number of classes (range check)
  int64_t used_label = 0;              // which label byte becomes RawDataset::labels
};

// Appends every record of `path` to `out` (whose shape fields it sets to 3 x 32 x 32).
void append_cifar_file(const std::filesystem::path& path, const CifarRecordFormat& format, RawDataset& out);

// <dir> = cifar-10-batches-bin: train = data_batch_1..5.bin (those present, at least one), test = test_batch.bin.
// Class names from batches.meta.txt when present.
RawDataset read_cifar10(const std::filesystem::path& dir, Split split);

// <dir> = cifar-100-binary: train.bin / test.bin; fine labels (100 classes) or, with coarse, the 20
// superclasses. Names from fine_label_names.txt / coarse_label_names.txt when present.
RawDataset read_cifar100(const std::filesystem::path& dir, Split split, bool coarse);

}  // namespace collapse
