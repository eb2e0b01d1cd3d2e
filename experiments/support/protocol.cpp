#include "experiments/support/protocol.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "data/registry.h"
#include "layers/models/densenet.h"
#include "layers/models/network.h"
#include "nc/measurements.h"

namespace collapse::experiment {

int paper_depth(const std::string& dataset, const std::string& arch) {
  // dataset -> {vgg, resnet, densenet}
  static const std::map<std::string, std::array<int, 3>> table = {
      {"mnist", {11, 18, 40}},   {"fashion-mnist", {11, 18, 250}}, {"svhn", {11, 18, 40}},
      {"cifar10", {13, 18, 40}}, {"cifar100", {13, 50, 250}},      {"stl10", {13, 50, 250}},
      {"imagenet", {19, 152, 201}}, {"kmnist", {11, 18, 40}}};
  auto it = table.find(dataset);
  if (it == table.end()) return 0;
  if (arch == "vgg") return it->second[0];
  if (arch == "resnet") return it->second[1];
  if (arch == "densenet") return it->second[2];
  return 0;  // a user-registered architecture has no paper depth: --depth is required
}

std::vector<int> default_measure_epochs(int epochs) {
  static const int notebook[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,  11,  12,  13,  14,  16,  17,  19,
                                 20, 22, 24, 27, 29, 32, 35, 38, 42, 45,  50,  54,  59,  65,  71,  77,  85,
                                 92, 101, 110, 121, 132, 144, 158, 172, 188, 206, 225, 245, 268, 293, 320, 350};
  std::set<int> out{0, epochs};
  for (int e : notebook) out.insert(std::clamp(static_cast<int>(std::lround(e * epochs / 350.0)), 1, epochs));
  return {out.begin(), out.end()};
}

void resolve_defaults(ExperimentConfig& c) {
  const DatasetInfo& info = dataset_info(c.dataset);  // throws with the valid names
  const bool imagenet = c.dataset == "imagenet";
  const auto archs = registered_models();
  COLLAPSE_CHECK(std::find(archs.begin(), archs.end(), c.arch) != archs.end(), "--arch: unknown architecture '",
                 c.arch, "'");
  if (c.depth == 0) c.depth = paper_depth(c.dataset, c.arch);
  COLLAPSE_CHECK(c.depth > 0, "--depth: required for architecture '", c.arch, "' (no paper default)");
  COLLAPSE_CHECK(std::isfinite(c.width) && c.width > 0, "--width: must be > 0, got ", c.width);
  COLLAPSE_CHECK(c.growth_rate >= 0, "--growth-rate: must be >= 1 (0: the depth's default), got ", c.growth_rate);
  COLLAPSE_CHECK(c.growth_rate == 0 || c.arch == "densenet", "--growth-rate: only for densenet, not ", c.arch);
  if (c.arch == "densenet" && c.growth_rate == 0) c.growth_rate = densenet_default_growth_rate(c.depth);
  if (c.epochs == 0) c.epochs = imagenet ? 300 : 350;
  COLLAPSE_CHECK(c.epochs >= 1, "--epochs: must be >= 1, got ", c.epochs);
  COLLAPSE_CHECK(std::isfinite(c.lr) && c.lr > 0, "--lr: must be a finite number > 0, got ", c.lr);
  COLLAPSE_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum: must be in [0, 1), got ", c.momentum);
  if (c.per_class == -1) c.per_class = info.train_per_class;
  COLLAPSE_CHECK(c.per_class >= 0, "--per-class: must be >= 0 (0: all), got ", c.per_class);
  COLLAPSE_CHECK(c.test_per_class >= 0, "--test-per-class: must be >= 0");
  COLLAPSE_CHECK(imagenet || c.image_size == 0, "--image-size: only for imagenet (", c.dataset,
                 " images have one size)");
  if (imagenet && c.image_size == 0) c.image_size = 224;
  COLLAPSE_CHECK(!imagenet || (c.image_size >= 16 && c.image_size <= 1024), "--image-size: must be in [16, 1024], got ",
                 c.image_size);
  if (c.weight_decay == -1) c.weight_decay = imagenet ? 1e-4 : 5e-4;
  COLLAPSE_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "--weight-decay: must be >= 0, got ",
                 c.weight_decay);
  loss_spec(c);  // --loss and its parameters
  if (c.batch_size == 0) c.batch_size = imagenet ? 256 : 128;
  COLLAPSE_CHECK(c.batch_size > 0, "--batch-size: must be > 0, got ", c.batch_size);
  COLLAPSE_CHECK(c.threads >= 0, "--threads: must be >= 0 (0: all cores), got ", c.threads);
  if (c.lr_milestones.empty())
    c.lr_milestones = imagenet ? std::vector<int>{c.epochs / 2, c.epochs * 3 / 4}
                               : std::vector<int>{c.epochs / 3, 2 * c.epochs / 3};
  for (int m : c.lr_milestones) COLLAPSE_CHECK(m >= 0 && m <= c.epochs, "--lr-milestones: ", m, " outside [0, ", c.epochs, "]");
  if (c.measure_epochs.empty()) c.measure_epochs = default_measure_epochs(c.epochs);
  std::sort(c.measure_epochs.begin(), c.measure_epochs.end());
  c.measure_epochs.erase(std::unique(c.measure_epochs.begin(), c.measure_epochs.end()), c.measure_epochs.end());
  for (int e : c.measure_epochs)
    COLLAPSE_CHECK(e >= 0 && e <= c.epochs, "--measure-epochs: ", e, " outside [0, ", c.epochs, "]");
  if (!c.measurements_given) {
    c.measurements.clear();
    for (auto& m : nc::registered_measurements())
      if (m.default_on) c.measurements.push_back(m.name);
  }
  for (auto& name : c.measurements) nc::find_measurement(name);  // unknown name: error listing the valid ones
  if (c.tpt_accuracy == 0) c.tpt_accuracy = imagenet ? 0.996 : 0.999;
  COLLAPSE_CHECK(c.device == "cpu" || c.device.rfind("cuda", 0) == 0, "--device: expected cpu or cuda, got '",
                 c.device, "'");
  if (c.out.empty()) {
    char w[32];
    std::snprintf(w, sizeof w, "%g", c.width);
    c.out = "runs/" + c.dataset + "-" + c.arch + std::to_string(c.depth) + "-w" + w + "-s" + std::to_string(c.seed);
  }
}

ResizeCropSides imagenet_resize_crop(int64_t crop_side) {
  return {static_cast<int64_t>(std::lround(static_cast<double>(crop_side) * 256.0 / 224.0)), crop_side};
}

LossSpec loss_spec(const ExperimentConfig& c) {
  LossSpec spec{loss_kind(c.loss), c.label_smoothing, c.focal_gamma, c.mse_target};
  check_loss_spec(spec);
  return spec;
}

nlohmann::json to_json(const ExperimentConfig& c) {
  return {{"dataset", c.dataset},
          {"data_root", c.data_root},
          {"arch", c.arch},
          {"depth", c.depth},
          {"width", c.width},
          {"growth_rate", c.growth_rate == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.growth_rate)},
          {"per_class", c.per_class},
          {"test_per_class", c.test_per_class},
          {"image_size", c.image_size == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.image_size)},
          {"image_resize_shorter",
           c.image_size == 0 ? nlohmann::json(nullptr) : nlohmann::json(imagenet_resize_crop(c.image_size).resize_shorter)},
          {"epochs", c.epochs},
          {"lr", c.lr},
          {"momentum", c.momentum},
          {"weight_decay", c.weight_decay},
          {"nesterov", false},
          {"batch_size", c.batch_size},
          {"lr_milestones", c.lr_milestones},
          {"lr_gamma", 0.1},
          {"measure_epochs", c.measure_epochs},
          {"seed", c.seed},
          {"threads", c.threads},
          {"device", c.device},
          {"out", c.out},
          {"export_features", c.export_features},
          {"checkpoint_every", c.checkpoint_every},
          {"tpt_accuracy", c.tpt_accuracy},
          {"measurements", c.measurements},
          {"sync_bn", c.sync_bn},
          {"loss", c.loss},
          {"label_smoothing", c.label_smoothing},
          {"focal_gamma", c.focal_gamma},
          {"mse_target", c.mse_target},
          {"fixed_etf_classifier", c.fixed_etf_classifier},
          {"imbalance_ratio", c.imbalance_ratio},
          {"imbalance_profile", c.imbalance_profile},
          {"augmentation", "none"},
          {"drop_last", true},
          {"normalisation", "per-channel mean/std of the rebalanced train set, 28x28 padded to 32x32 with 0 first"}};
}

}  // namespace collapse::experiment
