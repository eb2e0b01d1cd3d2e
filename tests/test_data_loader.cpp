// DataLoader: seeded per-epoch order, every example once, drop_last, channels-last batches, prefetch
// equivalence, buffer reuse without overwriting kept batches, mid-epoch resume, errors from the worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "data/data_loader.h"
#include "tests/test_data_fixtures.h"
#include "tests/testing/memory_dataset.h"

namespace collapse {
namespace {

using namespace collapse::testing;

// Example i is the image whose value at (y, x, c) is i + 0.001 * (100 * c + 10 * y + x); label i % 3.
float toy_value(int64_t i, int64_t y, int64_t x, int64_t c) {
  return static_cast<float>(i) + 0.001f * static_cast<float>(100 * c + 10 * y + x);
}
std::shared_ptr<MemoryDataset> toy(int64_t n) {
  return memory_dataset(n, {2, 3, 4}, 3, [](int64_t i) { return i % 3; }, toy_value);
}

// The example ids of every batch of one epoch (read back from the images, checked against the labels).
std::vector<std::vector<int64_t>> epoch_ids(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::vector<int64_t>> batches;
  Batch batch;
  while (loader.next(batch)) {
    std::vector<int64_t> ids;
    for (int64_t b = 0; b < batch.size(); ++b) {
      const int64_t id = static_cast<int64_t>(batch.images.at({b, 0, 0, 0}));
      EXPECT_EQ(static_cast<int64_t>(batch.labels.at({b})), id % 3);
      ids.push_back(id);
    }
    batches.push_back(ids);
  }
  return batches;
}

TEST(DataLoader, BatchIsChannelsLastFloatWithInt64Labels) {
  DataLoader loader(toy(10), {.batch_size = 4, .shuffle = false});
  loader.start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.images.shape(), (Shape{4, 2, 3, 4}));
  EXPECT_EQ(batch.images.dtype(), DType::f32);
  EXPECT_TRUE(batch.images.is_channels_last());
  EXPECT_EQ(batch.labels.shape(), (Shape{4}));
  EXPECT_EQ(batch.labels.dtype(), DType::i64);
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 3; ++y)
        for (int64_t x = 0; x < 4; ++x) ASSERT_EQ(batch.images.at({b, c, y, x}), toy_value(b, y, x, c));
}

TEST(DataLoader, SameSeedSameOrderDifferentEpochsDifferentOrders) {
  DataLoader a(toy(50), {.batch_size = 5, .seed = 11});
  DataLoader b(toy(50), {.batch_size = 5, .seed = 11});
  DataLoader c(toy(50), {.batch_size = 5, .seed = 12});
  const auto a0 = epoch_ids(a, 0), a1 = epoch_ids(a, 1);
  EXPECT_EQ(a0, epoch_ids(b, 0));
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, epoch_ids(c, 0));
  // Resuming at epoch 1 without having run epoch 0 reproduces it.
  DataLoader resumed(toy(50), {.batch_size = 5, .seed = 11});
  EXPECT_EQ(epoch_ids(resumed, 1), a1);
  EXPECT_EQ(DataLoader::epoch_order(50, 11, 3), DataLoader::epoch_order(50, 11, 3));
}

TEST(DataLoader, EveryExampleExactlyOncePerEpoch) {
  DataLoader loader(toy(23), {.batch_size = 5, .drop_last = false, .seed = 3});
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  for (int64_t epoch : {0, 1, 7}) {
    const auto batches = epoch_ids(loader, epoch);
    ASSERT_EQ(batches.size(), 5u);
    EXPECT_EQ(batches.back().size(), 3u);  // 23 = 4 x 5 + 3
    std::vector<int64_t> all;
    for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(23);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(all, expected);
  }
}

TEST(DataLoader, DropLastLeavesOutTheIncompleteBatch) {
  DataLoader loader(toy(23), {.batch_size = 5, .drop_last = true});
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  const auto batches = epoch_ids(loader, 0);
  ASSERT_EQ(batches.size(), 4u);
  for (const auto& b : batches) EXPECT_EQ(b.size(), 5u);
}

TEST(DataLoader, EvaluationPassIsOrderedAndComplete) {
  DataLoader loader(toy(7), LoaderOptions::evaluation(3));
  const auto batches = epoch_ids(loader, 4);
  EXPECT_EQ(batches, (std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6}}));
}

TEST(DataLoader, PrefetchGivesIdenticalBatches) {
  for (bool drop_last : {true, false}) {
    DataLoader plain(toy(37), {.batch_size = 6, .drop_last = drop_last, .seed = 9});
    DataLoader ahead(toy(37), {.batch_size = 6, .drop_last = drop_last, .prefetch = true, .seed = 9});
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      plain.start_epoch(epoch);
      ahead.start_epoch(epoch);
      Batch p, q;
      while (plain.next(p)) {
        ASSERT_TRUE(ahead.next(q));
        EXPECT_EQ(p.index, q.index);
        EXPECT_EQ(p.labels.to_double_vector(), q.labels.to_double_vector());
        EXPECT_EQ(p.images.to_double_vector(), q.images.to_double_vector());
      }
      EXPECT_FALSE(ahead.next(q));
    }
  }
}

TEST(DataLoader, PrefetchEpochRestartMidEpochIsClean) {
  DataLoader ahead(toy(40), {.batch_size = 4, .prefetch = true, .seed = 2});
  ahead.start_epoch(0);
  Batch b;
  ASSERT_TRUE(ahead.next(b));  // the worker is now filling batch 1 of epoch 0
  DataLoader plain(toy(40), {.batch_size = 4, .seed = 2});
  EXPECT_EQ(epoch_ids(ahead, 5), epoch_ids(plain, 5));
}

TEST(DataLoader, ResumeMidEpochSkipsWithoutReplaying) {
  DataLoader full(toy(30), {.batch_size = 4, .seed = 8});
  const auto all = epoch_ids(full, 2);
  DataLoader resumed(toy(30), {.batch_size = 4, .prefetch = true, .seed = 8});
  resumed.start_epoch(2, /*first_batch=*/5);
  Batch batch;
  std::vector<std::vector<int64_t>> rest;
  while (resumed.next(batch)) {
    std::vector<int64_t> ids;
    for (int64_t k = 0; k < batch.size(); ++k) ids.push_back(static_cast<int64_t>(batch.images.at({k, 0, 0, 0})));
    rest.push_back(ids);
  }
  EXPECT_EQ(rest, std::vector<std::vector<int64_t>>(all.begin() + 5, all.end()));
}

TEST(DataLoader, BuffersAreReusedInTheSteadyState) {
  for (bool prefetch : {false, true}) {
    DataLoader loader(toy(64), {.batch_size = 8, .prefetch = prefetch});
    std::set<const void*> storages;
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      loader.start_epoch(epoch);
      Batch batch;
      while (loader.next(batch)) storages.insert(batch.images.storage().get());
    }
    // One buffer without prefetch; with it, one in the caller's hands and one being filled.
    EXPECT_EQ(storages.size(), prefetch ? 2u : 1u) << "prefetch " << prefetch;
  }
}

TEST(DataLoader, AKeptBatchIsNeverOverwritten) {
  for (bool prefetch : {false, true}) {
    DataLoader loader(toy(40), {.batch_size = 4, .shuffle = false, .prefetch = prefetch});
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    const Tensor kept = batch.images;  // e.g. saved by an autograd graph
    const std::vector<double> before = kept.to_double_vector();
    while (loader.next(batch)) {
    }
    EXPECT_EQ(kept.to_double_vector(), before) << "prefetch " << prefetch;
  }
}

TEST(DataLoader, FillErrorIsRethrownAndTheEpochContinues) {
  for (bool prefetch : {false, true}) {
    auto data = toy(12);
    data->break_example(5);
    DataLoader loader(data, {.batch_size = 4, .shuffle = false, .prefetch = prefetch});
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    expect_error([&] { loader.next(batch); }, {"example 5 is broken"});
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.index, 2);
    EXPECT_FALSE(loader.next(batch));
  }
}

TEST(DataLoader, MisuseIsReported) {
  expect_error([] { DataLoader loader(toy(4), {.batch_size = 0}); }, {"batch size must be positive"});
  DataLoader loader(toy(4), {.batch_size = 2});
  Batch batch;
  expect_error([&] { loader.next(batch); }, {"call start_epoch first"});
}

}  // namespace
}  // namespace collapse
