// SVHN and the MATLAB v5 reader: the real subset in shared/datasets (scipy-written, compressed), and
// files from the test's own writer: compressed or not, little- or big-endian, y stored as double or
// uint8, and damaged files.
#include <gtest/gtest.h>

#include "data/mat_v5.h"
#include "data/svhn_reader.h"
#include "tests/test_data_fixtures.h"

namespace collapse {
namespace {

using namespace collapse::testing;

std::vector<int64_t> head(const std::vector<int64_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }

void expect_pattern_images(const RawDataset& ds) {
  for (int64_t i = 0; i < ds.n; ++i)
    for (int64_t y : {0, 1, 13, 31})
      for (int64_t x : {0, 2, 20, 31})
        for (int64_t c = 0; c < 3; ++c)
          ASSERT_EQ(ds.image(i)[(y * 32 + x) * 3 + c], pattern_pixel(i, y, x, c)) << i << " " << y << " " << x;
}

TEST(DataSvhn, RealSubsetCountsAndLabelSequence) {
  const RawDataset train = read_svhn(kSharedDatasets / "svhn", Split::train);
  ASSERT_EQ(train.n, 660);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(class_counts(train.labels, 10), std::vector<int64_t>(10, 66));
  // The official train labels start 1 9 2 3 2 5 9 3 3 1; the test labels 5 2 1 10 6 1 9 1 1 8 (10 = digit 0).
  EXPECT_EQ(head(train.labels, 10), (std::vector<int64_t>{1, 9, 2, 3, 2, 5, 9, 3, 3, 1}));
  const RawDataset test = read_svhn(kSharedDatasets / "svhn", Split::test);
  ASSERT_EQ(test.n, 120);
  EXPECT_EQ(class_counts(test.labels, 10), std::vector<int64_t>(10, 12));
  EXPECT_EQ(head(test.labels, 10), (std::vector<int64_t>{5, 2, 1, 0, 6, 1, 9, 1, 1, 8}));
}

TEST(DataSvhn, RealFileVariables) {
  const std::vector<MatVariable> vars = read_mat_v5(kSharedDatasets / "svhn/test_32x32.mat");
  const MatVariable& x = find_mat_variable(vars, "X", "test");
  EXPECT_EQ(x.dims, (std::vector<int64_t>{32, 32, 3, 120}));
  EXPECT_EQ(x.array_class, kMxUint8);
  const MatVariable& y = find_mat_variable(vars, "y", "test");
  EXPECT_EQ(y.dims, (std::vector<int64_t>{120, 1}));
  EXPECT_EQ(y.array_class, kMxDouble);
}

TEST(DataSvhn, CompressedFixtureOrientation) {
  TempDir dir;
  write_file(dir / "train_32x32.mat", mat_v5_file({svhn_x(3), svhn_y({10, 1, 7})}, /*compressed=*/true));
  const RawDataset ds = read_svhn(dir.path(), Split::train);
  ASSERT_EQ(ds.n, 3);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 7}));
  expect_pattern_images(ds);
}

TEST(DataSvhn, LabelsStoredAsUint8ReadLikeDoubles) {
  TempDir dir;
  write_file(dir / "a.mat", mat_v5_file({svhn_x(2), svhn_y({10, 4}, /*stored_as_uint8=*/true)}, true));
  const RawDataset ds = read_svhn_mat(dir / "a.mat");
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 4}));
}

TEST(DataSvhn, UncompressedAndBigEndianFiles) {
  TempDir dir;
  for (bool compressed : {false, true})
    for (bool big_endian : {false, true}) {
      const std::string name = std::string(compressed ? "z" : "u") + (big_endian ? "be" : "le") + ".mat";
      write_file(dir / name, mat_v5_file({svhn_x(2), svhn_y({3, 10})}, compressed, big_endian));
      const RawDataset ds = read_svhn_mat(dir / name);
      EXPECT_EQ(ds.labels, (std::vector<int64_t>{3, 0})) << name;
      expect_pattern_images(ds);
    }
}

TEST(DataSvhn, TruncatedCompressedStreamIsAnError) {
  TempDir dir;
  Bytes file = mat_v5_file({svhn_x(4), svhn_y({1, 2, 3, 4})}, true);
  // Cut inside X's zlib stream but patch the tag so the element itself looks complete: the inflater
  // must notice the missing end of stream.
  const size_t x_tag = 128;
  const uint32_t z = static_cast<uint32_t>(file[x_tag + 4]) | file[x_tag + 5] << 8 | file[x_tag + 6] << 16 |
                     static_cast<uint32_t>(file[x_tag + 7]) << 24;
  Bytes cut(file.begin(), file.begin() + x_tag + 8 + z / 2);
  const uint32_t half = z / 2;
  for (int i = 0; i < 4; ++i) cut[x_tag + 4 + i] = static_cast<uint8_t>(half >> (8 * i));
  write_file(dir / "cut.mat", cut);
  expect_error([&] { read_svhn_mat(dir / "cut.mat"); }, {"cut.mat", "truncated compressed data"});
  // A file cut without patching: the element's byte count runs past the end of the file.
  write_file(dir / "short.mat", Bytes(file.begin(), file.end() - 10));
  expect_error([&] { read_svhn_mat(dir / "short.mat"); }, {"short.mat", "truncated"});
}

TEST(DataSvhn, MissingLabelVariableIsNamed) {
  TempDir dir;
  write_file(dir / "nolabels.mat", mat_v5_file({svhn_x(2)}, true));
  expect_error([&] { read_svhn_mat(dir / "nolabels.mat"); }, {"nolabels.mat", "no variable 'y'", "holds: X"});
}

TEST(DataSvhn, LabelOutOfRangeIsNamed) {
  TempDir dir;
  write_file(dir / "bad.mat", mat_v5_file({svhn_x(3), svhn_y({1, 0, 2})}, true));
  expect_error([&] { read_svhn_mat(dir / "bad.mat"); }, {"bad.mat", "label 0 of example 1", "out of range"});
  write_file(dir / "bad2.mat", mat_v5_file({svhn_x(2), svhn_y({11, 2})}, true));
  expect_error([&] { read_svhn_mat(dir / "bad2.mat"); }, {"bad2.mat", "label 11 of example 0"});
}

TEST(DataSvhn, LabelCountMismatchIsAnError) {
  TempDir dir;
  write_file(dir / "m.mat", mat_v5_file({svhn_x(3), svhn_y({1, 2})}, true));
  expect_error([&] { read_svhn_mat(dir / "m.mat"); }, {"m.mat", "y holds 2 labels for 3 images"});
}

TEST(DataSvhn, WrongMagicAndHdf5AreNamed) {
  TempDir dir;
  Bytes junk(300, 'x');
  write_file(dir / "junk.mat", junk);
  expect_error([&] { read_mat_v5(dir / "junk.mat"); }, {"junk.mat", "wrong magic"});
  std::string v73 = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  5 21:09:26 2011 HDF5 schema 1.00 .";
  v73.resize(128, ' ');
  write_text(dir / "v73.mat", v73);
  expect_error([&] { read_mat_v5(dir / "v73.mat"); }, {"v73.mat", "MATLAB 7.3 (HDF5)"});
  write_file(dir / "tiny.mat", Bytes(20, 0));
  expect_error([&] { read_mat_v5(dir / "tiny.mat"); }, {"tiny.mat", "truncated", "128-byte"});
}

TEST(DataSvhn, WrongDataSizeInsideAMatrixIsAnError) {
  TempDir dir;
  MatArray x = svhn_x(2);
  x.dims[3] = 3;  // dims promise 3 images, data holds 2
  write_file(dir / "dims.mat", mat_v5_file({x, svhn_y({1, 2, 3})}, true));
  expect_error([&] { read_mat_v5(dir / "dims.mat"); }, {"dims.mat", "variable 'X' holds 6144 bytes"});
}

// Issue 15's crash: dimensions whose product overflows used to pass the size check after wrapping, and the
// reader then wrote through a null pointer. Now the product is checked, in both storage forms.
TEST(DataSvhn, OverflowingDimensionsAreAnError) {
  TempDir dir;
  MatArray x = svhn_x(2);
  x.dims = {2147483647, 2147483647, 3, 2147483647};
  for (bool compressed : {false, true}) {
    write_file(dir / "overflow.mat", mat_v5_file({x, svhn_y({1, 2})}, compressed));
    expect_error([&] { read_svhn_mat(dir / "overflow.mat"); }, {"overflow.mat", "dimensions of 'X'", "size overflows"});
  }
}

}  // namespace
}  // namespace collapse
