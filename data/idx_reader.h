#pragma once
// IDX files (MNIST, FashionMNIST, KMNIST), gzipped or not: the gzip magic decides, not the file name.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/raw_dataset.h"

namespace collapse {

// An unsigned-byte IDX array: magic 00 00 08 <ndims>, then ndims big-endian u32 sizes, then the values.
struct IdxUbyteArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;  // row-major
};
IdxUbyteArray read_idx_ubyte(const std::filesystem::path& path, int64_t expected_ndims);

// An images file (N x H x W) and a labels file (N). When the two counts differ, the first min(count)
// examples are used and a warning goes to stderr: both files list examples in the same official order,
// so a truncated file still pairs correctly with the head of the other one.
RawDataset read_idx_pair(const std::filesystem::path& images, const std::filesystem::path& labels,
                         int64_t num_classes, std::vector<std::string> class_names);

// <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte, each gzipped (".gz") or not.
RawDataset read_mnist_family(const std::filesystem::path& dir, Split split, int64_t num_classes,
                             std::vector<std::string> class_names);

}  // namespace collapse
