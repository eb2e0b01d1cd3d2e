// IDX readers (MNIST, FashionMNIST, KMNIST): the real files in shared/datasets, and fixtures for plain
// files, count mismatches and every kind of damage.
#include <gtest/gtest.h>

#include <numeric>

#include "data/channel_stats.h"
#include "data/idx_reader.h"
#include "data/registry.h"
#include "tests/test_data_fixtures.h"

namespace collapse {
namespace {

using namespace collapse::testing;
namespace fs = std::filesystem;

std::vector<int64_t> head(const std::vector<int64_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }

// The one full MNIST training read: counts, label histogram, a known row and the published statistics.
TEST(DataIdx, MnistTrainMatchesPublishedFacts) {
  const RawDataset ds = read_mnist_family(kSharedDatasets / "mnist", Split::train, 10, {"0","1","2","3","4","5","6","7","8","9"});
  ASSERT_EQ(ds.n, 60000);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.height, 28);
  EXPECT_EQ(ds.width, 28);
  EXPECT_EQ(class_counts(ds.labels, 10),
            (std::vector<int64_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
  EXPECT_EQ(head(ds.labels, 10), (std::vector<int64_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}));
  // Row 5 of the first training image (the "5"), as printed in countless tutorials.
  const std::vector<uint8_t> row5(ds.image(0) + 5 * 28, ds.image(0) + 6 * 28);
  EXPECT_EQ(row5, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 18, 18, 18, 126, 136, 175, 26, 166,
                                        255, 247, 127, 0, 0, 0, 0}));
  const ChannelStats st = compute_channel_stats(ds);
  EXPECT_NEAR(st.mean[0], 0.1307, 5e-5);
  EXPECT_NEAR(st.std[0], 0.3081, 5e-5);
}

TEST(DataIdx, MnistTestCountsAndHistogram) {
  const RawDataset ds = read_raw_split("mnist", kSharedDatasets, Split::test);
  ASSERT_EQ(ds.n, 10000);
  EXPECT_EQ(class_counts(ds.labels, 10),
            (std::vector<int64_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
  EXPECT_EQ(head(ds.labels, 5), (std::vector<int64_t>{7, 2, 1, 0, 4}));
}

TEST(DataIdx, KmnistTrainSubsetAndNames) {
  const RawDataset train = read_raw_split("kmnist", kSharedDatasets, Split::train);
  ASSERT_EQ(train.n, 6284);
  EXPECT_EQ(class_counts(train.labels, 10),
            (std::vector<int64_t>{627, 629, 628, 633, 678, 617, 606, 647, 596, 623}));
  EXPECT_NEAR(compute_channel_stats(train).mean[0], 0.19171, 1e-5);
  EXPECT_EQ(train.class_names.front(), "\u304a");  // お, from kmnist_classmap.csv
  EXPECT_EQ(train.class_names.back(), "\u3092");   // を
  const RawDataset test = read_raw_split("kmnist", kSharedDatasets, Split::test);
  ASSERT_EQ(test.n, 10000);
  EXPECT_EQ(class_counts(test.labels, 10), std::vector<int64_t>(10, 1000));
}

TEST(DataIdx, FashionMnistFromTheDebianPackage) {
  const fs::path debian = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(debian)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  // A root without fashion-mnist/ falls back to the Debian package.
  TempDir root;
  EXPECT_EQ(dataset_directory(dataset_info("fashion-mnist"), root.path()), debian);
  const RawDataset test = read_raw_split("fashion-mnist", root.path(), Split::test);
  ASSERT_EQ(test.n, 10000);
  EXPECT_EQ(class_counts(test.labels, 10), std::vector<int64_t>(10, 1000));
  EXPECT_EQ(test.class_names[9], "Ankle boot");
  EXPECT_EQ(head(test.labels, 5), (std::vector<int64_t>{9, 2, 1, 1, 6}));
}

TEST(DataIdx, PlainAndGzippedFilesReadTheSame) {
  TempDir dir;
  const Bytes labels = {3, 1, 4, 1, 5};
  write_file(dir / "plain/t10k-images-idx3-ubyte", idx_images(5, 4, 3));
  write_file(dir / "plain/t10k-labels-idx1-ubyte", idx_labels(labels));
  write_file(dir / "gz/t10k-images-idx3-ubyte.gz", gzip(idx_images(5, 4, 3)));
  write_file(dir / "gz/t10k-labels-idx1-ubyte.gz", gzip(idx_labels(labels)));
  const RawDataset a = read_mnist_family(dir / "plain", Split::test, 10, std::vector<std::string>(10, "c"));
  const RawDataset b = read_mnist_family(dir / "gz", Split::test, 10, std::vector<std::string>(10, "c"));
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.labels, (std::vector<int64_t>{3, 1, 4, 1, 5}));
  EXPECT_EQ(a.height, 4);
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(a.image(2)[1 * 3 + 2], pattern_pixel(2, 1, 2, 0));  // row-major H x W
}

TEST(DataIdx, CountMismatchUsesTheShorterFileAndWarns) {
  TempDir dir;
  write_file(dir / "img.idx3", idx_images(5, 2, 2));
  write_file(dir / "lab.idx1", idx_labels({0, 1, 2}));
  ::testing::internal::CaptureStderr();
  const RawDataset ds = read_idx_pair(dir / "img.idx3", dir / "lab.idx1", 10, std::vector<std::string>(10, "c"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ds.n, 3);
  EXPECT_EQ(ds.pixels.size(), 3u * 4u);
  EXPECT_NE(err.find("using the first 3"), std::string::npos) << err;
}

TEST(DataIdx, MissingFileIsNamed) {
  TempDir dir;
  expect_error([&] { read_mnist_family(dir.path(), Split::train, 10, {}); },
               {"missing file", "train-images-idx3-ubyte"});
}

TEST(DataIdx, WrongMagicIsNamed) {
  TempDir dir;
  Bytes bad = idx_labels({1, 2});
  bad[2] = 0x0D;  // float data, not unsigned bytes
  write_file(dir / "labels", bad);
  expect_error([&] { read_idx_ubyte(dir / "labels", 1); }, {"labels", "wrong magic"});
  // An images file given where a labels file belongs has the wrong number of dimensions.
  write_file(dir / "images", idx_images(2, 2, 2));
  expect_error([&] { read_idx_ubyte(dir / "images", 1); }, {"images", "wrong magic"});
}

TEST(DataIdx, TruncatedDataIsAnError) {
  TempDir dir;
  Bytes images = idx_images(4, 5, 5);
  images.resize(images.size() - 7);
  write_file(dir / "images.gz", gzip(images));
  expect_error([&] { read_idx_ubyte(dir / "images.gz", 3); }, {"images.gz", "truncated", "promises 100 bytes"});
}

TEST(DataIdx, TruncatedGzipStreamIsAnError) {
  TempDir dir;
  Bytes gz = gzip(idx_images(20, 8, 8));
  gz.resize(gz.size() / 2);
  write_file(dir / "cut.gz", gz);
  expect_error([&] { read_idx_ubyte(dir / "cut.gz", 3); }, {"cut.gz", "truncated compressed data"});
}

// Crafted headers (issue 15): dimensions whose product overflows, and a small gzip file that inflates far
// beyond what its header promises. Both end in an error naming the file, before any large allocation.
TEST(DataIdx, OverflowingDimensionsAreAnError) {
  TempDir dir;
  write_file(dir / "huge", idx_file({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, Bytes(16, 0)));
  expect_error([&] { read_idx_ubyte(dir / "huge", 3); }, {"huge", "size overflows"});
}

TEST(DataIdx, GzipBombStopsAtTheSizeTheHeaderPromises) {
  TempDir dir;
  Bytes bomb = idx_images(2, 4, 4);   // promises 32 bytes of pixels
  bomb.resize(bomb.size() + (64u << 20), 0);  // then 64 MiB of zeros: about 64 KiB once gzipped
  const Bytes gz = gzip(bomb);
  ASSERT_LT(gz.size(), 1u << 20);
  write_file(dir / "bomb.gz", gz);
  expect_error([&] { read_idx_ubyte(dir / "bomb.gz", 3); }, {"bomb.gz", "inflates to more than 48 bytes"});
}

TEST(DataIdx, LabelOutOfRangeIsNamed) {
  TempDir dir;
  write_file(dir / "img", idx_images(3, 2, 2));
  write_file(dir / "lab", idx_labels({0, 10, 1}));
  expect_error([&] { read_idx_pair(dir / "img", dir / "lab", 10, std::vector<std::string>(10, "c")); },
               {"lab", "label 10 of example 1", "out of range"});
}

}  // namespace
}  // namespace collapse
