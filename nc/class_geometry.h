#pragma once
// The last-layer geometry itself, not a summary of it: the cosines between the centred class means
// (μ_c − μ_G) and between the classifier rows w_c, and their norms. This is what Fig. 1 of the paper
// draws; nc-experiment writes it as geometry.json at the end of a run (the per-epoch NC2 numbers are
// statistics of these matrices).
#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "data/data_loader.h"
#include "layers/models/network.h"
#include "nc/class_means.h"

namespace collapse::nc {

// {"num_classes", "dim", "mean_cosines" (C × C), "classifier_cosines" (C × C), "mean_norms" [C],
//  "classifier_norms" [C], "etf_cosine" (−1/(C−1)), "max_mean_cosine_deviation" and
//  "max_classifier_cosine_deviation" (largest |cos − (−1/(C−1))| off the diagonal)}.
// `classifier_weights` is W (C × p). A zero vector's cosines are null.
nlohmann::json class_geometry(const ClassMeans& means, const Eigen::MatrixXd& classifier_weights);

// The same for a model: one pass over `train` (an evaluation loader) for the class means.
nlohmann::json class_geometry(Network& model, DataLoader& train, Device device);
// The same for a model whose training-set class means were already measured at its current weights
// (AnalysisOptions::class_means_out): no pass over the data.
nlohmann::json class_geometry(Network& model, const ClassMeans& means);

}  // namespace collapse::nc
