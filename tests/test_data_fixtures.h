#pragma once
// Helpers for the data tests: temporary folders, and writers that produce small files in the exact
// official layouts (IDX, CIFAR binary, MATLAB v5, STL-10 binary, image folders) for the formats and
// corruptions the real files in shared/datasets do not cover. The writers follow the format
// descriptions independently of the readers (they convert from HWC themselves), so a reader bug in
// orientation or byte order shows up as a mismatch.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

#ifndef COLLAPSE_SHARED_DATASETS
#define COLLAPSE_SHARED_DATASETS "/work/shared/datasets"
#endif

namespace collapse::testing {

inline const std::filesystem::path kSharedDatasets = COLLAPSE_SHARED_DATASETS;

// A fresh folder under the system temp directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

using Bytes = std::vector<uint8_t>;

void write_file(const std::filesystem::path& path, const Bytes& bytes);  // creates parent folders
void write_text(const std::filesystem::path& path, const std::string& text);
Bytes read_file(const std::filesystem::path& path);
Bytes gzip(const Bytes& data);
Bytes zlib_compress(const Bytes& data);

// A deterministic pixel for image i at (y, x, c): differs along every axis, so a transposed or
// channel-swapped read is caught.
uint8_t pattern_pixel(int64_t i, int64_t y, int64_t x, int64_t c);

// IDX: magic 00 00 08 <ndims>, big-endian u32 dims, values.
Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& values);
// n images of h x w with pattern_pixel, as an IDX images file; and labels as an IDX labels file.
Bytes idx_images(int64_t n, int64_t h, int64_t w);
Bytes idx_labels(const Bytes& labels);

// CIFAR binary records: label bytes, then R, G, B planes of the 32x32 pattern image i (first_image + k).
Bytes cifar_records(const std::vector<Bytes>& labels_per_record, int64_t first_image = 0);

// STL-10 binary: n pattern images, each channel stored column by column; labels as given.
Bytes stl10_images(int64_t n);

// MATLAB v5 writer: numeric arrays only, each optionally zlib-compressed (miCOMPRESSED), either byte order.
struct MatArray {
  std::string name;
  uint32_t array_class;  // mx*_CLASS
  std::vector<int32_t> dims;
  uint32_t stored_type;  // mi* type of the bytes below
  Bytes data;            // host (little-endian) values, column-major
};
Bytes mat_v5_file(const std::vector<MatArray>& arrays, bool compressed, bool big_endian = false);
// SVHN's variables: X uint8 32x32x3xN (pattern images, column-major), y as double or stored as uint8.
MatArray svhn_x(int64_t n);
MatArray svhn_y(const std::vector<double>& labels, bool stored_as_uint8 = false);

// Image files through stb_image_write; `pixels` is h x w x comp, row-major.
void write_png(const std::filesystem::path& path, int w, int h, int comp, const Bytes& pixels);
void write_jpeg(const std::filesystem::path& path, int w, int h, int comp, const Bytes& pixels);

// Runs fn and checks it throws collapse::Error whose message holds every fragment.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments);

}  // namespace collapse::testing
