#pragma once
// Collapse through depth: NC1 = Tr(Σ_W Σ_B⁺)/C (the definition of the main metric, computed by the same
// CollapseAnalyzer) of the output features of every stage of a network (Network::stage_outputs(): VGG's
// ReLUs, ResNet's residual blocks, DenseNet's dense blocks) on the training set.
//
// Streaming as nc/model_analysis.cpp: a forward hook on every stage at once, so each of the two passes
// (class means, then centred statistics) is one forward over the training set in eval mode, and memory
// does not grow with the number of samples. It does grow with the feature dimension: each stage keeps
// about six p × C double matrices (class sums, means, Ṁ, its SVD, the basis, and the dummy classifier
// below), so the features of a stage are either
//   flattened: [N, C, H, W] → [N, C·H·W] (row-major (C,H,W) order, as torch.flatten; NC1 is invariant
//              under any fixed permutation of coordinates, so the order only has to be consistent), or
//   pooled:    global-average-pooled to [N, C] (cheap; the classifier's input for ResNet and DenseNet).
// `automatic` flattens unless that would exceed the memory budget (ImageNet-sized maps with 1000 classes),
// then pools every stage, so that one run reports one kind of feature at every depth and epoch.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/data_loader.h"
#include "layers/models/network.h"

namespace collapse::nc {

enum class StageFeatures { automatic, flattened, pooled };

struct LayerwiseOptions {
  Device device = Device::cpu();
  StageFeatures features = StageFeatures::automatic;
  // For `automatic`: the most the per-stage analysis matrices may take together (about 6 · p · C · 8 bytes
  // per stage). ResNet18 on CIFAR-100 flattened needs about 1.2 GB.
  int64_t memory_budget_bytes = int64_t{2} << 30;
};

struct StageNc1 {
  std::string name;  // the stage's module name, as stage_outputs() gives it
  int64_t dim = 0;   // p: features per example
  double nc1 = 0;    // Tr(Σ_W Σ_B⁺)/C; NaN when the class means coincide
};

struct LayerwiseNc1 {
  StageFeatures features = StageFeatures::flattened;  // what was measured: flattened or pooled
  int64_t num_classes = 0;
  std::vector<StageNc1> stages;                       // in stage_outputs() order (input to output)
};

// The loader should be an evaluation loader (every example once). Inputs are converted to the dtype of
// the model's parameters, so float64 models work too. Leaves the model in the train/eval mode it found.
LayerwiseNc1 layerwise_nc1(Network& model, DataLoader& train, const LayerwiseOptions& options = {});

// {"features": "flattened" | "pooled", "stages": [{"name", "dim", "nc1"}, …], "separation_law": the fit of
// nc/separation_law.h to the stages' C·nc1}; NaN is written as null.
nlohmann::json to_json(const LayerwiseNc1& result);

}  // namespace collapse::nc
