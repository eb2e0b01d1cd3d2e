#pragma once
// SVHN cropped digits: train_32x32.mat / test_32x32.mat (MATLAB 5 MAT-files, zlib-compressed variables).
// X is uint8 32x32x3xN in MATLAB order X(row, col, channel, n), column-major, so each image's 3072 bytes
// are contiguous; y is Nx1 with values 1..10, where 10 means the digit 0. y is a double array, which
// MATLAB may store as uint8; both read the same.
#include <filesystem>

#include "data/raw_dataset.h"

namespace collapse {

RawDataset read_svhn_mat(const std::filesystem::path& path);
// <dir>/train_32x32.mat or <dir>/test_32x32.mat.
RawDataset read_svhn(const std::filesystem::path& dir, Split split);

}  // namespace collapse
