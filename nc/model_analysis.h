#pragma once
// Measuring a model: a forward hook on the model's classifier() records its input (the last-layer
// features h) and output (the logits) in eval mode under no-grad, batch by batch, and feeds the
// CollapseAnalyzer. Two passes over the training set (class means, then centred statistics) and one over
// the test set; memory never grows with the number of examples unless the caller asks for an export.
#include <memory>
#include <optional>
#include <string>

#include "data/data_loader.h"
#include "layers/models/network.h"
#include "nc/class_means.h"
#include "nc/metrics.h"

namespace collapse::nc {

struct AnalysisOptions {
  Device device = Device::cpu();
  std::optional<double> weight_decay_term;  // ½·λ·‖θ‖², to report train_loss_wd
  std::string export_dir;                    // non-empty: also write the features as .npy files there
  // Data parallelism: the loaders are sharded (each rank sees its slice of the sets) and `sum` adds the
  // float64 statistics across ranks, so every rank gets the single-process metrics. Not with export_dir.
  SumAcrossReplicas sum_across_replicas;
  // The second pass over the train set (the centred projections) needs the same features as the first.
  // When they fit in this many bytes (features, logits and labels of this process's share), the first
  // pass keeps them and the second reads them back instead of running the network again: the same numbers
  // in the same batches, so the same metrics bit for bit, at one forward pass less per measurement. Beyond
  // it (ImageNet: 1.28 M x 2048 floats) the network runs twice and memory stays independent of N.
  int64_t feature_cache_bytes = int64_t{512} << 20;
  // Non-null: receives the training set's class means of this measurement (the sums across replicas when
  // sharded), for a caller that needs them again for the same weights (nc-experiment's final geometry.json)
  // and would otherwise run the network over the training set once more.
  std::shared_ptr<const ClassMeans>* class_means_out = nullptr;
};

// The batch-by-batch features of one pass: calls `sink(features [n,p], labels [n], logits [n,C])`.
using FeatureSink = std::function<void(const Tensor& features, const Tensor& labels, const Tensor& logits)>;
void collect_features(Network& model, DataLoader& loader, Device device, const FeatureSink& sink);

// Every NC measurement of the model on `train` (and `test`, if given). The loaders should be
// evaluation loaders (no shuffle, no drop). Leaves the model in the train/eval mode it found.
CollapseMetrics analyze_model(Network& model, DataLoader& train, DataLoader* test, const AnalysisOptions& options);

// The classifier's weights W [C, p] as the analysis reads them: float32, contiguous, on the CPU.
Tensor classifier_weights(Network& model);

// ½·λ·Σ‖θ‖² over every parameter: the weight-decay part of the training objective.
double weight_decay_term(Module& model, double weight_decay);

}  // namespace collapse::nc
