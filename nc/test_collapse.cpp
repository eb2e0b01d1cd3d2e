// The test_collapse measurement: collapse of the test features measured against their own class means
// (Hui, Belkin & Nakkiran 2022, "Limitations of neural collapse for understanding generalization"), beside
// the core metrics, which measure the training features and use the training means even on the test split
// (nc4). Two passes over the test set: its class means, then the within-class statistics.
#include "nc/collapse_analyzer.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"

namespace collapse::nc {
namespace {

nlohmann::json test_collapse(MeasurementContext& ctx) {
  COLLAPSE_CHECK(ctx.test != nullptr, "test_collapse: the run has no test split");
  const Tensor w = classifier_weights(ctx.model);
  CollapseAnalyzer analyzer(w.size(0), w.size(1));
  collect_features(ctx.model, *ctx.test, ctx.device, [&](const Tensor& h, const Tensor& y, const Tensor&) {
    analyzer.add_means_batch(h.data<float>(), y.data<int64_t>(), h.size(0));
  });
  analyzer.finish_means();
  collect_features(ctx.model, *ctx.test, ctx.device, [&](const Tensor& h, const Tensor& y, const Tensor& z) {
    analyzer.add_second_pass_batch(h.data<float>(), y.data<int64_t>(), z.data<float>(), h.size(0));
  });
  const nlohmann::json all = to_json(analyzer.compute_metrics(w.data<float>()));
  nlohmann::json out = {{"means", "the test split's own class means"}};
  for (const char* key : {"num_train", "nc1", "nc1_trace", "nc1_quotient", "cdnv", "equinorm_means",
                          "equiangular_means", "maxangle_means", "etf_error_means", "nc3", "nc4_train",
                          "nc1_per_class"})
    out[std::string(key) == "num_train" ? "num_test" : std::string(key) == "nc4_train" ? "nc4" : key] = all[key];
  return out;
}

}  // namespace

COLLAPSE_REGISTER_MEASUREMENT("test_collapse",
                              "NC1 (and its variants), NC2, NC3 and NC4 of the test features against the test "
                              "set's own class means (Hui, Belkin & Nakkiran 2022)",
                              /*default_on=*/false, test_collapse);

}  // namespace collapse::nc
