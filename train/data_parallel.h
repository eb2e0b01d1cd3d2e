#pragma once
// Data parallelism (PyTorch's DistributedDataParallel, on our communicator): every rank holds the whole
// model, trains on its slice of each global batch (DataLoader's shards), and the gradients are summed
// across ranks before the optimizer steps, so every rank takes the same step.
//
// Why a sum and not a mean: each rank back-propagates its share of the global batch's loss,
// (1/B)·Σ_{i in its slice} ℓ_i = (B_r/B)·(its local mean loss), so the gradients of the K shares add up to
// the gradient of the single-process loss exactly, also when B is not a multiple of K, and synchronised
// batch norm (layers/layers.h) sees the true per-sample gradients.
//
// Overlap: parameters are grouped in buckets in reverse registration order (the order backward produces
// their gradients); a bucket's all-reduce starts from the hook of its last gradient while backward goes on
// with earlier layers, and finish() waits for what is still in flight.
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/variable.h"
#include "distributed/communicator.h"
#include "layers/module.h"
#include "optim/sgd.h"

namespace collapse {

struct DataParallelOptions {
  int64_t bucket_bytes = int64_t{4} << 20;  // gradient bytes per all-reduce (PyTorch's first bucket is 1 MB, later 25 MB)
  bool overlap = true;                      // false: every bucket starts only in finish()
};

class GradientSynchronizer {
 public:
  GradientSynchronizer(std::vector<Variable> params, distributed::Communicator& comm, DataParallelOptions options = {});
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Before backward: forget the previous step's state.
  void begin_step();
  // After backward: starts what has not started, waits for every bucket, and writes the summed gradients
  // back into the parameters' grads.
  void finish();

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  // Seconds finish() spent waiting for communication (what overlap did not hide), summed over steps.
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Slot {
    Variable param;
    int64_t bucket = 0, offset = 0;  // where its gradient sits in its bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    Tensor flat;  // float32 [elements], on the parameters' device
    int64_t pending = 0;  // gradients not yet copied in this step
    std::unique_ptr<distributed::PendingCollective> request;
  };
  void on_gradient(size_t slot);
  void start(Bucket& bucket);

  distributed::Communicator& comm_;
  DataParallelOptions options_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  double wait_seconds_ = 0;
};

// Copies rank `root`'s parameters, buffers (batch-norm statistics) and optimizer state to every rank:
// at start (so all ranks begin from one model whatever their initialisation) and after rank 0 resumed
// from a checkpoint.
void broadcast_training_state(Module& model, SGD* optimizer, distributed::Communicator& comm, int root = 0);
// Buffers only (batch-norm running statistics, which per-rank batch norm lets drift apart), as
// DistributedDataParallel's broadcast_buffers does: before every measurement, so that each rank's share of
// the analysis sees rank 0's model.
void broadcast_buffers(Module& model, distributed::Communicator& comm, int root = 0);

}  // namespace collapse
