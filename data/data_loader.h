#pragma once
// DataLoader: batches of a Dataset as tensors, in a per-epoch order derived from (seed, epoch) alone.
//
//   DataLoader loader(train, {.batch_size = 128, .prefetch = true, .seed = seed});
//   for (int64_t epoch = start; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) step(batch.images, batch.labels);
//   }
//
// Each batch is written straight into a float32 [B, C, H, W] channels-last tensor (the CPU backend's
// layout; Tensor::empty_activation) and an int64 [B] label tensor. Buffers are reused: in the steady
// state no batch allocates. A buffer is refilled only once nothing outside the loader holds its tensors,
// so keeping a batch (or a graph that saved it) is safe; the loader then allocates a fresh buffer.
//
// Data parallelism: with `shards` = K, each of K loaders (one per rank, `shard` = its rank) hands out its
// contiguous slice of every global batch of `batch_size` examples: rows [⌊r·b/K⌋, ⌊(r+1)·b/K⌋) of a batch
// of b rows. The slices of one batch together are exactly the single-process batch, so K ranks train on
// the same examples in the same steps as one process does; an evaluation loader's slices cover the set once.
//
// With prefetch, a worker thread fills batch k+1 while the caller trains on batch k. Both modes hand out
// identical batches. An error while filling (say, an undecodable image) is rethrown by next().
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"

namespace collapse {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = true;  // leave out the last, incomplete batch (training)
  bool prefetch = false;
  uint64_t seed = 0;
  int shard = 0;   // this loader's rank among `shards` (see above)
  int shards = 1;

  // Evaluation passes: every example exactly once, in dataset order, the last batch possibly smaller.
  static LoaderOptions evaluation(int64_t batch_size, bool prefetch = false) {
    return {batch_size, /*shuffle=*/false, /*drop_last=*/false, prefetch, 0};
  }
  LoaderOptions& sharded(int rank, int count) {
    shard = rank, shards = count;
    return *this;
  }
};

// The rows [first, second) of a global batch of `rows` that shard `shard` of `shards` takes.
std::pair<int64_t, int64_t> shard_rows(int64_t rows, int shard, int shards);

struct Batch {
  Tensor images;       // float32 [B, C, H, W], channels-last
  Tensor labels;       // int64 [B]
  int64_t index = -1;  // position of the batch within its epoch
  int64_t global_size = 0;  // rows of the global batch this one is a shard of (its own size without shards)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }
  int64_t batches_per_epoch() const;

  // Begins epoch `epoch` at batch `first_batch`. The order depends only on (seed, epoch), so resuming
  // at epoch k (even mid-epoch) reproduces the uninterrupted run without replaying earlier epochs.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Writes the next batch of the epoch into `batch` and returns true, or returns false at the epoch's end.
  bool next(Batch& batch);

  // The visiting order of an epoch: a uniform permutation drawn from (seed, epoch), or 0..n-1 unshuffled.
  static std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

 private:
  struct Buffer {
    Tensor images, labels;
  };
  struct Filled {
    Buffer buffer;
    Batch batch;
    std::exception_ptr error;
  };

  Buffer acquire_buffer();
  void recycle(Buffer&& buffer);
  Batch fill(Buffer& buffer, int64_t batch_index) const;
  void request(int64_t batch_index);  // hands the worker its next batch
  void wait_until_worker_idle(std::unique_lock<std::mutex>& lock);
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  ImageShape shape_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;  // read by the worker; changed only while it is idle
  int64_t next_batch_ = 0;
  std::vector<Buffer> free_buffers_;  // touched by the caller's thread only
  std::optional<Buffer> handed_out_;  // behind the batch last returned by next()

  // Prefetch state, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::pair<Buffer, int64_t>> job_;  // a buffer to fill and its batch index
  std::optional<Filled> filled_;
  bool worker_busy_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace collapse
