// CIFAR-10 / CIFAR-100 binary readers: the real subsets in shared/datasets, and fixtures for layout,
// multiple batches and damage.
#include <gtest/gtest.h>

#include <array>

#include "data/cifar_reader.h"
#include "tests/test_data_fixtures.h"

namespace collapse {
namespace {

using namespace collapse::testing;

const std::filesystem::path kCifar10 = kSharedDatasets / "cifar10/cifar-10-batches-bin";
const std::filesystem::path kCifar100 = kSharedDatasets / "cifar100/cifar-100-binary";

std::vector<int64_t> head(const std::vector<int64_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }

// Pixel (y, x) channel c of image i in a RawDataset (HWC).
int px(const RawDataset& ds, int64_t i, int64_t y, int64_t x, int64_t c) {
  return ds.image(i)[(y * ds.width + x) * ds.channels + c];
}

TEST(DataCifar, Cifar10RealSubset) {
  const RawDataset train = read_cifar10(kCifar10, Split::train);  // only data_batch_1.bin exists: a warning
  ASSERT_EQ(train.n, 10000);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(class_counts(train.labels, 10), std::vector<int64_t>(10, 1000));
  // The official data_batch_1 starts frog truck truck deer automobile automobile bird horse ship cat.
  EXPECT_EQ(head(train.labels, 10), (std::vector<int64_t>{6, 9, 9, 4, 1, 1, 2, 7, 8, 3}));
  EXPECT_EQ(train.class_names.front(), "airplane");
  EXPECT_EQ(train.class_names.back(), "truck");

  const RawDataset test = read_cifar10(kCifar10, Split::test);
  ASSERT_EQ(test.n, 860);
  EXPECT_EQ(class_counts(test.labels, 10), std::vector<int64_t>(10, 86));
  EXPECT_EQ(head(test.labels, 10), (std::vector<int64_t>{3, 8, 8, 0, 6, 6, 1, 6, 3, 1}));
}

TEST(DataCifar, Cifar100RealSubsetMatchesOfficialFirstImages) {
  const RawDataset fine = read_cifar100(kCifar100, Split::train, /*coarse=*/false);
  ASSERT_EQ(fine.n, 10000);
  EXPECT_EQ(class_counts(fine.labels, 100), std::vector<int64_t>(100, 100));
  // First five official training images: their classes, and the first three R bytes and last three
  // B bytes of each as printed from the official pickle (planes R, G, B), here read back from HWC.
  const std::vector<std::string> names = {"cattle", "dinosaur", "apple", "boy", "aquarium_fish"};
  const std::vector<std::array<int, 6>> ends = {{255, 255, 255, 10, 59, 79},   {255, 253, 253, 253, 253, 255},
                                                {250, 248, 247, 194, 207, 228}, {124, 131, 135, 232, 236, 231},
                                                {43, 32, 87, 60, 29, 37}};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(fine.class_names[fine.labels[i]], names[i]) << "image " << i;
    const std::array<int, 6> got = {px(fine, i, 0, 0, 0),  px(fine, i, 0, 1, 0),  px(fine, i, 0, 2, 0),
                                    px(fine, i, 31, 29, 2), px(fine, i, 31, 30, 2), px(fine, i, 31, 31, 2)};
    EXPECT_EQ(got, ends[i]) << "image " << i;
  }
  const RawDataset coarse = read_cifar100(kCifar100, Split::train, /*coarse=*/true);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(class_counts(coarse.labels, 20), std::vector<int64_t>(20, 500));
  EXPECT_EQ(coarse.pixels, fine.pixels);

  const RawDataset test = read_cifar100(kCifar100, Split::test, false);
  ASSERT_EQ(test.n, 2000);
  EXPECT_EQ(class_counts(test.labels, 100), std::vector<int64_t>(100, 20));
}

TEST(DataCifar, FixtureLayoutBatchesAndNames) {
  TempDir dir;
  // data_batch_2 is absent: the reader takes the batches that exist, in order.
  write_file(dir / "data_batch_1.bin", cifar_records({{3}, {7}, {0}}, 0));
  write_file(dir / "data_batch_3.bin", cifar_records({{9}, {1}}, 3));
  write_file(dir / "test_batch.bin", cifar_records({{5}}, 0));
  write_text(dir / "batches.meta.txt", "a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n");
  const RawDataset ds = read_cifar10(dir.path(), Split::train);
  ASSERT_EQ(ds.n, 5);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{3, 7, 0, 9, 1}));
  EXPECT_EQ(ds.class_names[7], "a7");
  for (int64_t i = 0; i < ds.n; ++i)
    for (int64_t y : {0, 5, 31})
      for (int64_t x : {0, 17, 31})
        for (int64_t c = 0; c < 3; ++c) ASSERT_EQ(px(ds, i, y, x, c), pattern_pixel(i, y, x, c));
  EXPECT_EQ(read_cifar10(dir.path(), Split::test).n, 1);
}

TEST(DataCifar, WrongRecordSizeIsAnError) {
  TempDir dir;
  Bytes bytes = cifar_records({{1}, {2}});
  bytes.resize(bytes.size() - 100);  // a truncated download
  write_file(dir / "test_batch.bin", bytes);
  expect_error([&] { read_cifar10(dir.path(), Split::test); },
               {"test_batch.bin", "wrong record size", "3073-byte records"});
  // A CIFAR-100 file read as CIFAR-10: 3074-byte records do not divide.
  write_file(dir / "test_batch.bin", cifar_records({{1, 2}, {3, 4}, {5, 6}}));
  expect_error([&] { read_cifar10(dir.path(), Split::test); }, {"wrong record size"});
}

TEST(DataCifar, EmptyFileIsAnError) {
  TempDir dir;
  write_file(dir / "test.bin", {});
  expect_error([&] { read_cifar100(dir.path(), Split::test, false); }, {"test.bin", "0 bytes"});
}

TEST(DataCifar, LabelOutOfRangeIsNamed) {
  TempDir dir;
  write_file(dir / "test_batch.bin", cifar_records({{1}, {10}}));
  expect_error([&] { read_cifar10(dir.path(), Split::test); }, {"test_batch.bin", "label 10 of record 1"});
  // CIFAR-100 checks both label bytes, whichever one is used.
  write_file(dir / "train.bin", cifar_records({{19, 99}, {20, 5}}));
  expect_error([&] { read_cifar100(dir.path(), Split::train, /*coarse=*/false); }, {"train.bin", "label 20 of record 1"});
}

TEST(DataCifar, MissingFilesAreNamed) {
  TempDir dir;
  expect_error([&] { read_cifar10(dir.path(), Split::train); }, {"missing file", "data_batch_1.bin"});
  expect_error([&] { read_cifar100(dir.path(), Split::test, false); }, {"missing file", "test.bin"});
}

TEST(DataCifar, WrongNumberOfClassNamesIsAnError) {
  TempDir dir;
  write_file(dir / "test_batch.bin", cifar_records({{1}}));
  write_text(dir / "batches.meta.txt", "cat\ndog\n");
  expect_error([&] { read_cifar10(dir.path(), Split::test); }, {"batches.meta.txt", "2 class names, expected 10"});
}

}  // namespace
}  // namespace collapse
