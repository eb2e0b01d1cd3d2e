#pragma once
// What every model family shares: a Module whose last op is a Linear classifier. The NC analysis hooks
// that Linear's input (the last-layer features h) from outside; models know nothing of the analysis.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/registration.h"
#include "core/rng.h"
#include "layers/layers.h"

namespace collapse {

struct ModelConfig {
  std::string arch = "resnet";  // a name registered in the model registry
  int depth = 18;
  double width = 1.0;           // channel multiplier; every layer keeps at least one channel
  int64_t in_channels = 3;
  int64_t image_size = 32;      // square inputs; > 96 selects the ImageNet stem where a family has one
  int64_t num_classes = 10;
  // DenseNet's growth rate k before width scaling; 0: the layout's (DenseNet-BC 40/100/250: 12, as in the
  // paper's DenseNet40; ImageNet 121/169/201: 32). Huang et al.'s DenseNet-BC-250 used k = 24.
  int64_t growth_rate = 0;
};

class Network : public Module {
 public:
  using Module::Module;
  virtual Linear& classifier() = 0;
  // The modules whose outputs are the network's stages (per-layer collapse measurements hook these).
  virtual std::vector<std::pair<std::string, Module*>> stage_outputs() { return {}; }
};
using NetworkPtr = std::shared_ptr<Network>;

// Channels after scaling by the width multiplier.
inline int64_t scaled_channels(int64_t channels, double width) {
  const auto c = static_cast<int64_t>(static_cast<double>(channels) * width + 0.5);
  return c < 1 ? 1 : c;
}

// The model registry: each family registers a builder once (a static registration in its own file), and
// nc-experiment --arch NAME builds any of them.
using ModelBuilder = std::function<NetworkPtr(const ModelConfig&, Generator&)>;
bool register_model(const std::string& arch, ModelBuilder builder, std::string description);
NetworkPtr build_model(const ModelConfig& config, Generator& gen);
std::vector<std::string> registered_models();
std::string model_description(const std::string& arch);

}  // namespace collapse

#define COLLAPSE_REGISTER_MODEL(arch, builder, description)                                        \
  [[maybe_unused]] static const bool COLLAPSE_CONCAT(collapse_model_registered_, __COUNTER__) = \
      ::collapse::register_model(arch, builder, description)
