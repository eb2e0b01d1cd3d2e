#pragma once
// The training loop of the paper's protocol, reusable by any experiment: SGD epochs over a batch source
// with a multi-step schedule, evaluation passes in eval mode, callbacks after chosen epochs (the NC
// analysis plugs in there), detection of the terminal phase, and checkpoints that resume bit for bit.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "backends/classification_loss.h"
#include "data/data_loader.h"
#include "distributed/communicator.h"
#include "layers/module.h"
#include "train/data_parallel.h"
#include "optim/sgd.h"

namespace collapse {

struct EpochResult {
  int epoch = 0;
  double lr = 0;
  double loss = 0;   // mean over the batches trained in this call, in train mode as the weights moved
  double error = 0;  // fraction misclassified during those batches
  int64_t images = 0;
  double seconds = 0;
  int64_t steps_done = 0;  // batches of the epoch done when the call returned (first_step + those trained)
  bool stopped = false;    // TrainerOptions::stop asked to stop before the epoch's end (steps_done < its batches)
};

struct EvalResult {
  double loss = 0;
  double error = 0;
  int64_t images = 0;
};

// The first measured epoch with train accuracy ≥ threshold (the TPT onset) and the first at 100%.
class TerminalPhaseTracker {
 public:
  explicit TerminalPhaseTracker(double accuracy_threshold = 0.999) : threshold_(accuracy_threshold) {}
  void observe(int epoch, double train_error);
  // Whether a train error is within the threshold: the one test for onset and, after it, for a break. A
  // slack of 1e-12 absorbs the rounding of errors/count (5 errors in 5,000 is 99.9 % exactly).
  bool accurate_enough(double train_error) const { return 1.0 - train_error >= threshold_ - 1e-12; }
  // A measurement after onset whose train error is over the threshold again (a late loss spike).
  bool interrupted_by(int epoch, double train_error) const {
    return onset_ && epoch > *onset_ && !accurate_enough(train_error);
  }
  std::optional<int> onset_epoch() const { return onset_; }
  std::optional<int> first_zero_error_epoch() const { return zero_; }
  bool in_terminal_phase() const { return onset_.has_value(); }
  double threshold() const { return threshold_; }
  void restore(std::optional<int> onset, std::optional<int> zero) { onset_ = onset, zero_ = zero; }

 private:
  double threshold_;
  std::optional<int> onset_, zero_;
};

struct TrainerOptions {
  int epochs = 350;
  bool quiet = false;           // no per-epoch progress line
  int progress_every = 0;       // print a line every N steps inside an epoch (0: only at epoch ends)
  Device device = Device::cpu();
  // When it becomes non-zero (a signal's number), train_epoch returns after the step it is in.
  const std::atomic<int>* stop = nullptr;
  // Data parallelism: with a communicator of size K > 1, loaders must be sharded (LoaderOptions::sharded)
  // and gradients are summed across ranks (train/data_parallel.h). Each step also sums three numbers across
  // ranks (the loss, the errors, a stop request), so every rank reports the global batch's loss and error
  // and all ranks stop, or diverge, at the same step.
  distributed::Communicator* comm = nullptr;
  distributed::Communicator* gradient_comm = nullptr;  // NCCL for gradients on GPUs; unset: comm
  DataParallelOptions data_parallel;
  // The training loss (backends/classification_loss.h); evaluate() reports the same one.
  LossSpec loss;
};

class Trainer {
 public:
  Trainer(Module& model, SGD& optimizer, MultiStepLR schedule, TrainerOptions options);
  // One epoch (1-based) of SGD over `train` at the schedule's learning rate, from batch `first_step` (a
  // resume in the middle of an epoch). Throws NonFiniteError when the loss or a parameter stops being
  // finite (before the step that would spread it). On a terminal, a progress line is rewritten in place.
  EpochResult train_epoch(int epoch, DataLoader& train, int64_t first_step = 0);
  // Loss and error of the model in eval mode over a whole source, without building graphs.
  EvalResult evaluate(DataLoader& source);

  Module& model() { return model_; }
  SGD& optimizer() { return optimizer_; }
  const MultiStepLR& schedule() const { return schedule_; }
  const TrainerOptions& options() const { return options_; }
  // Data parallelism: seconds spent waiting for gradient all-reduces that backward did not hide (0 alone).
  double gradient_wait_seconds() const { return gradients_ ? gradients_->wait_seconds() : 0.0; }

 private:
  bool distributed() const { return options_.comm && options_.comm->size() > 1; }

  Module& model_;
  SGD& optimizer_;
  MultiStepLR schedule_;
  TrainerOptions options_;
  std::unique_ptr<GradientSynchronizer> gradients_;  // data parallelism only
  // The ETA averages every epoch this process has trained, with whatever ran between them (measurements).
  std::chrono::steady_clock::time_point first_epoch_start_{};
  int first_epoch_ = -1;
};

// Checkpoints: <dir>/epoch-NNNN/model.safetensors (the model's state_dict, loadable by torchvision for
// ResNets) and trainer.safetensors (optimizer buffers, with epoch and terminal-phase state in its
// metadata). trainer.safetensors is written last, so its presence marks a complete checkpoint. Each file's
// metadata holds the CRC-32 of every tensor ("crc32:<name>"); loading verifies them, and that every value
// is finite, before anything is applied. Unless keep_older, the newest complete checkpoint before this one
// is kept too, so a damaged newest one still leaves something to resume from.
struct CheckpointState {
  int epoch = 0;  // epochs completed
  std::optional<int> tpt_onset, first_zero_error;
  std::map<std::string, std::string> extra;  // free-form metadata the experiment wants back
  int64_t step = 0;  // batches of epoch + 1 already trained (a stop in the middle of an epoch), else 0
};
void save_checkpoint(const std::string& dir, Module& model, const SGD& optimizer, const CheckpointState& state,
                     bool keep_older = false);
// The newest complete checkpoint under `dir`, if any.
std::optional<std::string> latest_checkpoint(const std::string& dir);
// Errors name the file, and the tensor or metadata field, that is wrong.
CheckpointState load_checkpoint(const std::string& checkpoint_dir, Module& model, SGD& optimizer);
// The newest checkpoint under `dir` that verifies, loaded (a warning names each one skipped); nullopt when
// there is none at all, an error when there are some and none verifies.
struct LoadedCheckpoint {
  std::string dir;
  CheckpointState state;
};
std::optional<LoadedCheckpoint> load_latest_valid_checkpoint(const std::string& dir, Module& model, SGD& optimizer);

}  // namespace collapse
