#pragma once
// The training loop of the paper's protocol, reusable by any experiment: SGD epochs over a batch source
// with a multi-step schedule, evaluation passes in eval mode, callbacks after chosen epochs (the NC
// analysis plugs in there), detection of the terminal phase, and checkpoints that resume bit for bit.
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "data/data_loader.h"
#include "layers/models/network.h"
#include "optim/sgd.h"

namespace collapse {

struct EpochResult {
  int epoch = 0;
  double lr = 0;
  double loss = 0;   // mean over the epoch's batches, in train mode as the weights moved
  double error = 0;  // fraction misclassified during those batches
  int64_t images = 0;
  double seconds = 0;
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
  // Whether a train error is within the threshold: the one test for onset and, after it, for a break.
  bool accurate_enough(double train_error) const { return 1.0 - train_error >= threshold_; }
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
};

class Trainer {
 public:
  Trainer(Network& model, SGD& optimizer, MultiStepLR schedule, TrainerOptions options);
  // One epoch (1-based) of SGD over `train` at the schedule's learning rate.
  EpochResult train_epoch(int epoch, DataLoader& train);
  // Loss and error of the model in eval mode over a whole source, without building graphs.
  EvalResult evaluate(DataLoader& source);

  Network& model() { return model_; }
  SGD& optimizer() { return optimizer_; }
  const MultiStepLR& schedule() const { return schedule_; }
  const TrainerOptions& options() const { return options_; }

 private:
  Network& model_;
  SGD& optimizer_;
  MultiStepLR schedule_;
  TrainerOptions options_;
};

// Checkpoints: <dir>/epoch-NNNN/model.safetensors (the model's state_dict, loadable by torchvision for
// ResNets) and trainer.safetensors (optimizer buffers, with epoch and terminal-phase state in its
// metadata). trainer.safetensors is written last, so its presence marks a complete checkpoint.
struct CheckpointState {
  int epoch = 0;
  std::optional<int> tpt_onset, first_zero_error;
  std::map<std::string, std::string> extra;  // free-form metadata the experiment wants back
};
void save_checkpoint(const std::string& dir, Network& model, const SGD& optimizer, const CheckpointState& state,
                     bool keep_older = false);
// The newest complete checkpoint under `dir`, if any.
std::optional<std::string> latest_checkpoint(const std::string& dir);
CheckpointState load_checkpoint(const std::string& checkpoint_dir, Network& model, SGD& optimizer);

}  // namespace collapse
