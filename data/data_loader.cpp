#include "data/data_loader.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/seed_streams.h"

namespace collapse {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  COLLAPSE_CHECK(dataset_ != nullptr, "DataLoader: no dataset");
  COLLAPSE_CHECK(options_.batch_size > 0, "DataLoader: batch size must be positive, got ", options_.batch_size);
  COLLAPSE_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards, "DataLoader: shard ",
                 options_.shard, " of ", options_.shards, " does not exist");
  COLLAPSE_CHECK(!options_.drop_last || options_.batch_size >= options_.shards, "DataLoader: a batch of ",
                 options_.batch_size, " cannot be shared by ", options_.shards, " ranks (each needs at least one example)");
  shape_ = dataset_->image_shape();
  if (options_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  // One generator per epoch, seeded from the run's shuffle stream and the epoch number: no epoch's
  // order depends on how many numbers another epoch drew.
  Generator gen = derived_generator(derived_generator(seed, kShuffleStream).next_u64(), static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
  return order;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  COLLAPSE_CHECK(epoch >= 0, "DataLoader::start_epoch: negative epoch ", epoch);
  COLLAPSE_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "DataLoader::start_epoch: batch ",
                 first_batch, " out of range [0, ", batches_per_epoch(), "]");
  if (options_.prefetch) {
    // Let a batch of the previous epoch finish, then drop it: the order may be replaced only while the worker rests.
    std::unique_lock<std::mutex> lock(mutex_);
    wait_until_worker_idle(lock);
    if (filled_) {
      Filled stale = std::move(*filled_);
      filled_.reset();
      stale.batch = {};
      recycle(std::move(stale.buffer));
    }
  }
  epoch_ = epoch;
  order_ = epoch_order(dataset_->size(), options_.seed, epoch, options_.shuffle);
  next_batch_ = first_batch;
  if (options_.prefetch && next_batch_ < batches_per_epoch()) request(next_batch_);
}

bool DataLoader::next(Batch& batch) {
  COLLAPSE_CHECK(epoch_ >= 0, "DataLoader::next: call start_epoch first");
  batch = {};  // drop the caller's references first, so the last batch's buffer can be reused
  if (handed_out_) {
    recycle(std::move(*handed_out_));
    handed_out_.reset();
  }
  if (next_batch_ >= batches_per_epoch()) return false;

  if (!options_.prefetch) {
    Buffer buffer = acquire_buffer();
    batch = fill(buffer, next_batch_++);
    handed_out_ = std::move(buffer);
    return true;
  }

  Filled filled;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return filled_.has_value(); });
    filled = std::move(*filled_);
    filled_.reset();
  }
  // As without prefetch, a batch that failed counts as consumed: a caller that catches the error and
  // calls next() again continues with the following batch.
  ++next_batch_;
  if (next_batch_ < batches_per_epoch()) request(next_batch_);
  if (filled.error) {
    filled.batch = {};
    recycle(std::move(filled.buffer));
    std::rethrow_exception(filled.error);
  }
  batch = std::move(filled.batch);
  handed_out_ = std::move(filled.buffer);
  return true;
}

DataLoader::Buffer DataLoader::acquire_buffer() {
  if (!free_buffers_.empty()) {
    Buffer b = std::move(free_buffers_.back());
    free_buffers_.pop_back();
    return b;
  }
  const int64_t b = options_.batch_size;
  return {Tensor::empty_activation({b, shape_.channels, shape_.height, shape_.width}, DType::f32),
          Tensor::empty({b}, DType::i64)};
}

void DataLoader::recycle(Buffer&& buffer) {
  // Reuse only a buffer nobody else sees: a batch the caller kept must never change under it.
  if (buffer.images.storage().use_count() == 1 && buffer.labels.storage().use_count() == 1)
    free_buffers_.push_back(std::move(buffer));
}

std::pair<int64_t, int64_t> shard_rows(int64_t rows, int shard, int shards) {
  return {rows * shard / shards, rows * (shard + 1) / shards};
}

Batch DataLoader::fill(Buffer& buffer, int64_t batch_index) const {
  const int64_t global_start = batch_index * options_.batch_size;
  const int64_t global_count = std::min(options_.batch_size, dataset_->size() - global_start);
  const auto [first, last] = shard_rows(global_count, options_.shard, options_.shards);
  const int64_t start = global_start + first, count = last - first;
  const int64_t row = shape_.numel();
  float* images = buffer.images.data<float>();
  int64_t* labels = buffer.labels.data<int64_t>();
  for (int64_t j = 0; j < count; ++j) {
    const int64_t i = order_[start + j];
    dataset_->write_example(i, images + j * row);  // channels-last: one example is one contiguous HWC row
    labels[j] = dataset_->label(i);
  }
  buffer.images.storage()->bump_version();
  buffer.labels.storage()->bump_version();
  Batch batch;
  // A short last batch is a view of the buffer's first rows, still channels-last.
  batch.images = count == options_.batch_size ? buffer.images : buffer.images.narrow(0, 0, count);
  batch.labels = count == options_.batch_size ? buffer.labels : buffer.labels.narrow(0, 0, count);
  batch.index = batch_index;
  batch.global_size = global_count;
  return batch;
}

void DataLoader::request(int64_t batch_index) {
  Buffer buffer = acquire_buffer();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_.emplace(std::move(buffer), batch_index);
  }
  cv_.notify_all();
}

void DataLoader::wait_until_worker_idle(std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return !job_.has_value() && !worker_busy_; });
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || job_.has_value(); });
    if (stop_) return;
    auto [buffer, batch_index] = std::move(*job_);
    job_.reset();
    worker_busy_ = true;
    lock.unlock();

    Filled filled;
    try {
      filled.batch = fill(buffer, batch_index);
    } catch (...) {
      filled.error = std::current_exception();
    }
    filled.buffer = std::move(buffer);

    lock.lock();
    worker_busy_ = false;
    filled_ = std::move(filled);
    cv_.notify_all();
  }
}

}  // namespace collapse
