#pragma once
// Measuring a model: a forward hook on the model's classifier() records its input (the last-layer
// features h) and output (the logits) in eval mode under no-grad, batch by batch, and feeds the
// CollapseAnalyzer. Two passes over the training set (class means, then centred statistics) and one over
// the test set; memory never grows with the number of examples unless the caller asks for an export.
#include <optional>
#include <string>

#include "data/data_loader.h"
#include "layers/models/network.h"
#include "nc/metrics.h"

namespace collapse::nc {

struct AnalysisOptions {
  Device device = Device::cpu();
  std::optional<double> weight_decay_term;  // ½·λ·‖θ‖², to report train_loss_wd
  std::string export_dir;                    // non-empty: also write the features as .npy files there
  // Data parallelism: the loaders are sharded (each rank sees its slice of the sets) and `sum` adds the
  // float64 statistics across ranks, so every rank gets the single-process metrics. Not with export_dir.
  SumAcrossReplicas sum_across_replicas;
};

// The batch-by-batch features of one pass: calls `sink(features [n,p], labels [n], logits [n,C])`.
using FeatureSink = std::function<void(const Tensor& features, const Tensor& labels, const Tensor& logits)>;
void collect_features(Network& model, DataLoader& loader, Device device, const FeatureSink& sink);

// Every NC measurement of the model on `train` (and `test`, if given). The loaders should be
// evaluation loaders (no shuffle, no drop). Leaves the model in the train/eval mode it found.
CollapseMetrics analyze_model(Network& model, DataLoader& train, DataLoader* test, const AnalysisOptions& options);

// ½·λ·Σ‖θ‖² over every parameter: the weight-decay part of the training objective.
double weight_decay_term(Module& model, double weight_decay);

}  // namespace collapse::nc
