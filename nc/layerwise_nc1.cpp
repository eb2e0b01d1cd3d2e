// Per-stage NC1 (nc/layerwise_nc1.h) and the "layerwise_nc1" measurement.
#include "nc/layerwise_nc1.h"
#include "nc/separation_law.h"

#include <cmath>
#include <memory>

#include "nc/collapse_analyzer.h"
#include "nc/measurements.h"

namespace collapse::nc {
namespace {

// One hooked stage: its analyzer and, during a pass, how often its hook fired for the current batch.
struct StageProbe {
  std::string name;
  Module* module = nullptr;
  int64_t flattened_dim = 0, pooled_dim = 0;
  std::unique_ptr<CollapseAnalyzer> analyzer;
  int calls = 0;
};

// Removes the hooks and restores the model's mode on every exit path.
class HookedEvaluation {
 public:
  explicit HookedEvaluation(Network& model) : model_(model), was_training_(model.is_training()) { model_.eval(); }
  ~HookedEvaluation() {
    for (auto& h : hooks_) h.remove();
    model_.train(was_training_);
  }
  HookedEvaluation(const HookedEvaluation&) = delete;
  HookedEvaluation& operator=(const HookedEvaluation&) = delete;
  void add(HookHandle h) { hooks_.push_back(std::move(h)); }

 private:
  Network& model_;
  bool was_training_;
  std::vector<HookHandle> hooks_;
};

// A stage's output as features [n, p] on the host, row-major: flattened in (C,H,W) order (.contiguous()
// turns the channels-last activation row-major), or global-average-pooled.
Tensor stage_features(const Variable& out, StageFeatures mode) {
  Tensor t = (mode == StageFeatures::pooled && out.data().dim() == 4) ? global_avg_pool(out).data() : out.data();
  t = t.to(Device::cpu()).contiguous();
  const int64_t n = t.size(0);
  return t.view({n, n ? t.numel() / n : 0});
}

// Calls `feed(stage, features, labels, n)` for every stage, once per batch, over one pass of `loader`.
template <class Feed>
void stage_pass(Network& model, DataLoader& loader, std::vector<StageProbe>& stages, StageFeatures mode,
                DType dtype, Device device, Feed&& feed) {
  HookedEvaluation scope(model);
  const int64_t* labels = nullptr;
  int64_t n = 0;
  for (auto& stage : stages)
    scope.add(stage.module->register_forward_hook([&, s = &stage](Module&, const Variable&, const Variable& out) {
      ++s->calls;
      feed(*s, stage_features(out, mode), labels, n);
    }));
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    labels = batch.labels.data<int64_t>();
    n = batch.size();
    for (auto& stage : stages) stage.calls = 0;
    model(Variable(batch.images.to(device).to(dtype)));
    // A stage module run twice per forward would count its examples twice.
    for (auto& stage : stages)
      COLLAPSE_CHECK(stage.calls == 1, "layerwise_nc1: stage '", stage.name, "' ran ", stage.calls,
                     " times in one forward (expected once)");
  }
}

// Each stage's feature size, flattened and pooled, from one forward of the first training example.
void probe_dims(Network& model, DataLoader& loader, std::vector<StageProbe>& stages, DType dtype, Device device) {
  HookedEvaluation scope(model);
  for (auto& stage : stages)
    scope.add(stage.module->register_forward_hook([s = &stage](Module&, const Variable&, const Variable& out) {
      s->flattened_dim = stage_features(out, StageFeatures::flattened).size(1);
      s->pooled_dim = stage_features(out, StageFeatures::pooled).size(1);
    }));
  loader.start_epoch(0);
  Batch batch;
  COLLAPSE_CHECK(loader.next(batch), "layerwise_nc1: the training loader is empty");
  model(Variable(batch.images.narrow(0, 0, 1).to(device).to(dtype)));
}

StageFeatures choose_features(const LayerwiseOptions& options, const std::vector<StageProbe>& stages,
                              int64_t classes) {
  if (options.features != StageFeatures::automatic) return options.features;
  double bytes = 0;
  for (const auto& s : stages)
    bytes += 6.0 * 8.0 * static_cast<double>(s.flattened_dim) * static_cast<double>(classes);
  return bytes <= static_cast<double>(options.memory_budget_bytes) ? StageFeatures::flattened : StageFeatures::pooled;
}

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

LayerwiseNc1 layerwise_nc1(Network& model, DataLoader& train, const LayerwiseOptions& options) {
  std::vector<StageProbe> stages;
  for (auto& [name, module] : model.stage_outputs()) {
    StageProbe& stage = stages.emplace_back();
    stage.name = name;
    stage.module = module;
  }
  COLLAPSE_CHECK(!stages.empty(), "layerwise_nc1: the model lists no stage_outputs()");
  const int64_t classes = train.dataset().num_classes();
  const std::vector<Variable> parameters = model.parameters();
  const DType dtype = parameters.empty() ? DType::f32 : parameters.front().data().dtype();
  NoGradGuard no_grad;

  probe_dims(model, train, stages, dtype, options.device);
  LayerwiseNc1 result;
  result.features = choose_features(options, stages, classes);
  result.num_classes = classes;
  const bool pooled = result.features == StageFeatures::pooled;
  for (auto& s : stages)
    s.analyzer = std::make_unique<CollapseAnalyzer>(classes, pooled ? s.pooled_dim : s.flattened_dim);

  stage_pass(model, train, stages, result.features, dtype, options.device,
             [](StageProbe& s, const Tensor& h, const int64_t* y, int64_t n) {
               if (h.dtype() == DType::f64) s.analyzer->add_means_batch(h.data<double>(), y, n);
               else s.analyzer->add_means_batch(h.to(DType::f32).data<float>(), y, n);
             });
  for (auto& s : stages) s.analyzer->finish_means();
  // Pass 2 wants logits only for the error/loss tally and NC4, which mean nothing here: zeros stand in,
  // so the hooks need not wait for the network's output.
  std::vector<float> zero_logits;
  stage_pass(model, train, stages, result.features, dtype, options.device,
             [&](StageProbe& s, const Tensor& h, const int64_t* y, int64_t n) {
               zero_logits.assign(static_cast<size_t>(n * classes), 0.0f);
               if (h.dtype() == DType::f64) s.analyzer->add_second_pass_batch(h.data<double>(), y, zero_logits.data(), n);
               else s.analyzer->add_second_pass_batch(h.to(DType::f32).data<float>(), y, zero_logits.data(), n);
             });

  for (auto& s : stages) {
    // compute_metrics needs a C × p classifier for NC2–NC4, meaningless for an inner layer. The centred
    // class means stand in: Ṁ is p × C column-major, so its memory is Ṁᵀ row-major, a valid C × p matrix
    // with no copy. Only NC1, which does not involve W, is kept.
    const Eigen::MatrixXd& centred = s.analyzer->class_means().centred;
    result.stages.push_back({s.name, s.analyzer->dim(), s.analyzer->compute_metrics(centred.data()).nc1});
    s.analyzer.reset();  // free this stage's p × C matrices before the next one's metrics
  }
  return result;
}

nlohmann::json to_json(const LayerwiseNc1& result) {
  nlohmann::json stages = nlohmann::json::array();
  std::vector<double> fuzziness;  // Tr(Σ_W Σ_B⁺) = C·NC1 per stage
  for (const auto& s : result.stages) {
    stages.push_back({{"name", s.name}, {"dim", s.dim}, {"nc1", json_number(s.nc1)}});
    fuzziness.push_back(static_cast<double>(result.num_classes) * s.nc1);
  }
  return {{"features", result.features == StageFeatures::pooled ? "pooled" : "flattened"},
          {"stages", stages},
          {"separation_law", to_json(fit_separation_law(fuzziness))}};
}

namespace {
nlohmann::json layerwise_nc1_measurement(MeasurementContext& ctx) {
  LayerwiseOptions options;
  options.device = ctx.device;
  return to_json(layerwise_nc1(ctx.model, ctx.train, options));
}
}  // namespace

COLLAPSE_REGISTER_MEASUREMENT("layerwise_nc1",
                              "NC1 of every stage's output features on the train set (collapse through depth; "
                              "flattened, or pooled when too large; two extra passes)",
                              false, layerwise_nc1_measurement);

}  // namespace collapse::nc
