// STL-10 binary reader on fixtures in the official layout (no STL-10 files exist in shared/datasets).
#include <gtest/gtest.h>

#include "data/registry.h"
#include "data/stl10_reader.h"
#include "tests/test_data_fixtures.h"

namespace collapse {
namespace {

using namespace collapse::testing;
namespace fs = std::filesystem;

void write_stl10(const fs::path& dir, const std::string& split, int64_t n, const Bytes& labels) {
  write_file(dir / (split + "_X.bin"), stl10_images(n));
  write_file(dir / (split + "_y.bin"), labels);
}

TEST(DataStl10, ColumnMajorImagesBecomeHwc) {
  TempDir dir;
  write_stl10(dir.path(), "train", 2, {1, 10});
  const RawDataset ds = read_stl10(dir.path(), Split::train);
  ASSERT_EQ(ds.n, 2);
  EXPECT_EQ(ds.height, 96);
  EXPECT_EQ(ds.width, 96);
  EXPECT_EQ(ds.channels, 3);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t y : {0, 1, 50, 95})
      for (int64_t x : {0, 1, 77, 95})
        for (int64_t c = 0; c < 3; ++c)
          ASSERT_EQ(ds.image(i)[(y * 96 + x) * 3 + c], pattern_pixel(i, y, x, c)) << y << " " << x << " " << c;
}

TEST(DataStl10, OneBrightPixelProvesTheOrientation) {
  // In the file, byte 96 of the red plane is column 1, row 0 (column-major): the pixel right of the
  // top-left corner, not the one below it.
  TempDir dir;
  Bytes image(96 * 96 * 3, 0);
  image[96] = 255;
  write_file(dir / "test_X.bin", image);
  write_file(dir / "test_y.bin", {3});
  const RawDataset ds = read_stl10(dir.path(), Split::test);
  EXPECT_EQ(ds.image(0)[(0 * 96 + 1) * 3 + 0], 255);  // (row 0, col 1), red
  EXPECT_EQ(ds.image(0)[(1 * 96 + 0) * 3 + 0], 0);    // (row 1, col 0)
}

TEST(DataStl10, LabelsOneToTenBecomeZeroToNine) {
  TempDir dir;
  write_stl10(dir.path(), "test", 3, {1, 5, 10});
  write_text(dir / "class_names.txt", "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n");
  const RawDataset ds = read_stl10(dir.path(), Split::test);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 4, 9}));
  EXPECT_EQ(ds.class_names[7], "monkey");
}

TEST(DataStl10, WrongRecordSizeIsAnError) {
  TempDir dir;
  Bytes x = stl10_images(2);
  x.pop_back();
  write_file(dir / "train_X.bin", x);
  write_file(dir / "train_y.bin", {1, 2});
  expect_error([&] { read_stl10(dir.path(), Split::train); }, {"train_X.bin", "wrong record size", "27648"});
}

TEST(DataStl10, LabelCountMismatchIsAnError) {
  TempDir dir;
  write_stl10(dir.path(), "train", 2, {1, 2, 3});
  expect_error([&] { read_stl10(dir.path(), Split::train); }, {"train_y.bin", "3 labels for the 2 images"});
}

TEST(DataStl10, LabelOutOfRangeIsNamed) {
  TempDir dir;
  write_stl10(dir.path(), "train", 2, {0, 2});  // 0 is not a valid STL-10 label
  expect_error([&] { read_stl10(dir.path(), Split::train); }, {"train_y.bin", "label 0 of example 0"});
}

TEST(DataStl10, RegistryFindsTheArchiveFolder) {
  TempDir root;
  const fs::path dir = root / "stl10/stl10_binary";
  write_stl10(dir, "train", 4, {1, 2, 1, 2});
  write_stl10(dir, "test", 2, {1, 2});
  // Only classes 1 and 2 have examples: the protocol refuses a training set with empty classes.
  expect_error([&] { load_dataset("stl10", root.path()); }, {"stl10 train set", "class 2 (car) has no examples"});
  EXPECT_EQ(read_raw_split("stl10", root.path(), Split::test).n, 2);
}

}  // namespace
}  // namespace collapse
