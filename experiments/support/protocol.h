#pragma once
// The paper's protocol as defaults (NEURAL_COLLAPSE.md §1–3): every setting of one nc-experiment run,
// resolved from the dataset when the user leaves it out, and written to config.json.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/classification_loss.h"

#include <nlohmann/json.hpp>

namespace collapse::experiment {

struct ExperimentConfig {
  std::string dataset = "fashion-mnist";
  std::string data_root = "data";  // nc-experiment: $COLLAPSE_DATA when set
  std::string arch = "resnet";
  int depth = 0;               // 0: the paper's depth for (dataset, arch)
  double width = 1.0;
  int64_t growth_rate = 0;     // densenet: k before width scaling (0: 12 for DenseNet-BC, 32 for 121/169/201)
  int64_t per_class = -1;      // -1: the paper's count for the dataset; 0: all
  int64_t test_per_class = 0;  // 0: the whole test set
  int64_t image_size = 0;      // imagenet: centre-crop side (0: 224, resized to 256 first; else scaled alike)
  int epochs = 0;              // 0: the paper's (350; ImageNet 300)
  double lr = 0.0679;
  double momentum = 0.9;
  double weight_decay = -1;    // -1: 5e-4 (ImageNet 1e-4)
  int64_t batch_size = 0;      // 0: 128 (ImageNet 256)
  std::vector<int> lr_milestones;   // empty: E/3 and 2E/3 (ImageNet E/2, 3E/4)
  std::vector<int> measure_epochs;  // empty: the notebook's log-like list scaled to `epochs`, plus 0
  uint64_t seed = 0;
  int threads = 0;             // 0: OpenMP's default
  std::string device = "cpu";
  std::string out;             // empty: runs/<dataset>-<arch><depth>-w<width>-s<seed>
  bool resume = false;
  bool overwrite = false;      // --overwrite: delete the run in `out` first (RunFolder, FolderUse::overwrite)
  bool export_features = false;
  bool quiet = false;
  bool profile = false;  // time per op and per layer over the second trained epoch (core/profiler.h)
  bool keep_checkpoints = false;
  int checkpoint_every = 0;    // epochs between checkpoints besides the measured ones (0: every 5 minutes)
  double tpt_accuracy = 0;     // 0: 0.999 (ImageNet 0.996)
  // Extra registered measurements (nc/measurements.h) taken at each measured epoch; unset: those on by default.
  std::vector<std::string> measurements;
  bool measurements_given = false;
  // Data parallelism (mpirun -np K): batch-norm statistics over the global batch rather than each rank's
  // slice. Changes the numbers of a K-rank run (not of a single process), so --resume keeps it.
  bool sync_bn = false;
  // The training loss (backends/classification_loss.h): ce (the paper's), label-smoothing, focal, mse.
  std::string loss = "ce";
  double label_smoothing = 0.1;
  double focal_gamma = 2.0;
  double mse_target = 1.0;
  // The classifier fixed to a simplex ETF and not trained (layers/fixed_etf_classifier.h).
  bool fixed_etf_classifier = false;
  // A long-tailed training set (data/subsample.h imbalanced_counts): largest class / smallest = ratio.
  double imbalance_ratio = 1.0;
  std::string imbalance_profile = "exp";
};

// The training loss the configuration names.
LossSpec loss_spec(const ExperimentConfig& config);

// Fills every "use the default" field from the dataset and epochs; throws collapse::Error on bad values.
void resolve_defaults(ExperimentConfig& config);
// The paper's depth for a dataset and family (the table of NEURAL_COLLAPSE.md §1).
int paper_depth(const std::string& dataset, const std::string& arch);
// ImageNet's resize-then-crop for a crop side: the shorter side goes to round(side·256/224) first, so a
// smaller crop sees the same field of view as the paper's 256 -> 224.
struct ResizeCropSides {
  int64_t resize_shorter, crop;
};
ResizeCropSides imagenet_resize_crop(int64_t crop_side);
// The notebook's measurement epochs for 350 epochs, scaled to `epochs`, deduplicated, with 0 first.
std::vector<int> default_measure_epochs(int epochs);

nlohmann::json to_json(const ExperimentConfig& config);

}  // namespace collapse::experiment
