// collapse-analyze: every Neural Collapse metric (NEURAL_COLLAPSE.md §4) for features saved as .npy,
// from this framework or any other.
//
//   collapse-analyze --features F.npy --labels y.npy --weights W.npy [--bias b.npy]
//                    [--test-features T.npy --test-labels ty.npy] [--weight-decay-term X] [--json out.json]
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "nc/metrics.h"
#include "nc/npy_analysis.h"

int main(int argc, char** argv) {
  CLI::App app{"Neural Collapse metrics (NC1-NC4, error, loss) of last-layer features saved as .npy"};
  collapse::nc::NpyAnalysisFiles files;
  std::optional<double> weight_decay_term;
  std::string json_path;
  app.add_option("--features", files.features, "train features (N, p), float16/float32/float64, C or Fortran order")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--labels", files.labels, "train labels (N,), int32/int64")->required()->check(CLI::ExistingFile);
  app.add_option("--weights", files.weights, "classifier weight W (C, p)")->required()->check(CLI::ExistingFile);
  app.add_option("--bias", files.bias, "classifier bias b (C,); leave out for a classifier without bias")
      ->check(CLI::ExistingFile);
  auto* test_features =
      app.add_option("--test-features", files.test_features, "test features (T, p)")->check(CLI::ExistingFile);
  auto* test_labels = app.add_option("--test-labels", files.test_labels, "test labels (T,)")->check(CLI::ExistingFile);
  test_features->needs(test_labels);
  test_labels->needs(test_features);
  app.add_option("--weight-decay-term", weight_decay_term,
                 "the trainer's 1/2*wd*||theta||^2, added to the train loss as train_loss_wd");
  app.add_option("--json", json_path, "also write the metrics as one JSON object to this file (atomically)");
  CLI11_PARSE(app, argc, argv);

  try {
    const collapse::nc::CollapseMetrics metrics = collapse::nc::analyze_npy_files(files, weight_decay_term);
    std::cout << collapse::nc::format_metrics(metrics);
    if (!json_path.empty()) {
      collapse::write_text_file_atomically(json_path, collapse::nc::to_json(metrics).dump(2) + "\n");
      std::cout << "wrote " << json_path << "\n";
    }
  } catch (const std::exception& e) {  // collapse::Error for bad inputs; anything else is a bug, still reported
    std::cerr << "collapse-analyze: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
