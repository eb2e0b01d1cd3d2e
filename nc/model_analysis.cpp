#include "nc/model_analysis.h"

#include <filesystem>

#include "nc/collapse_analyzer.h"
#include "nc/finite_values.h"
#include "nc/npy.h"

namespace collapse::nc {

void collect_features(Network& model, DataLoader& loader, Device device, const FeatureSink& sink) {
  const bool was_training = model.is_training();
  NoGradGuard no_grad;
  model.eval();
  Tensor features, logits;
  HookHandle hook = model.classifier().register_forward_hook([&](Module&, const Variable& in, const Variable& out) {
    features = in.data();
    logits = out.data();
  });
  loader.start_epoch(0);
  Batch batch;
  int64_t seen = 0;
  try {
    while (loader.next(batch)) {
      if (batch.size() == 0) continue;  // a rank's empty slice of a short last batch
      model(Variable(batch.images.to(device)));
      COLLAPSE_CHECK(features.defined() && features.dim() == 2, "analyze: the classifier's input is not [N, p] (",
                     features.str(), ")");
      Tensor host_features = features.to(Device::cpu()).contiguous();
      Tensor host_logits = logits.to(Device::cpu()).contiguous();
      // Metrics of non-finite features would be numbers with no meaning (NC4 of all-NaN logits reads 0).
      const std::pair<const char*, const Tensor*> checked[] = {{"last-layer feature", &host_features},
                                                               {"logit", &host_logits}};
      for (const auto& [what, values] : checked)
        if (const int64_t bad = first_non_finite(*values); bad >= 0) {
          const int64_t width = values->size(1);
          throw NonFiniteError(detail::concat("analysis: the ", what, " ", bad % width, " of example ",
                                              seen + bad / width, " is ", values->data<float>()[bad],
                                              " (the model has diverged)"));
        }
      seen += host_features.size(0);
      sink(host_features, batch.labels, host_logits);
      features = logits = Tensor();
    }
  } catch (...) {
    hook.remove();
    model.train(was_training);
    throw;
  }
  hook.remove();
  model.train(was_training);
}

namespace {
// Accumulates a split's features for --export-features (the only place an N×p buffer exists).
struct SplitExport {
  std::vector<float> features, logits;
  std::vector<int64_t> labels;
  int64_t dim = 0, classes = 0;
  void add(const Tensor& f, const Tensor& y, const Tensor& z) {
    add_rows(f.data<float>(), y.data<int64_t>(), z.data<float>(), f.size(0), f.size(1), z.size(1));
  }
  void add_rows(const float* f, const int64_t* y, const float* z, int64_t n, int64_t p, int64_t c) {
    dim = p, classes = c;
    features.insert(features.end(), f, f + n * p);
    logits.insert(logits.end(), z, z + n * c);
    labels.insert(labels.end(), y, y + n);
  }
  int64_t bytes() const {
    return static_cast<int64_t>((features.size() + logits.size()) * sizeof(float) + labels.size() * sizeof(int64_t));
  }
  void write(const std::filesystem::path& dir, const std::string& prefix) const {
    const auto n = static_cast<int64_t>(labels.size());
    write_npy((dir / (prefix + "features.npy")).string(), features.data(), {n, dim});
    write_npy((dir / (prefix + "labels.npy")).string(), labels.data(), {n});
    write_npy((dir / (prefix + "logits.npy")).string(), logits.data(), {n, classes});
  }
};
// The first pass's batches, kept for the second pass when they fit (AnalysisOptions::feature_cache_bytes).
struct CachedPass {
  struct Chunk {
    std::vector<float> features, logits;
    std::vector<int64_t> labels;
  };
  std::vector<Chunk> chunks;
  int64_t bytes = 0, budget = 0;
  bool complete = true;  // false once the budget was exceeded: the network runs again
  void add(const Tensor& f, const Tensor& y, const Tensor& z) {
    if (!complete) return;
    bytes += (f.numel() + z.numel()) * static_cast<int64_t>(sizeof(float)) + y.numel() * static_cast<int64_t>(sizeof(int64_t));
    if (bytes > budget) {
      complete = false;
      chunks = {};
      return;
    }
    chunks.push_back({{f.data<float>(), f.data<float>() + f.numel()},
                      {z.data<float>(), z.data<float>() + z.numel()},
                      {y.data<int64_t>(), y.data<int64_t>() + y.numel()}});
  }
};
}  // namespace

CollapseMetrics analyze_model(Network& model, DataLoader& train, DataLoader* test, const AnalysisOptions& options) {
  Linear& classifier = model.classifier();
  const Tensor w = classifier_weights(model);
  const int64_t classes = w.size(0), dim = w.size(1);
  CollapseAnalyzer analyzer(classes, dim);
  const bool exporting = !options.export_dir.empty();
  const SumAcrossReplicas& sum = options.sum_across_replicas;
  COLLAPSE_CHECK(!(exporting && sum), "analyze: exporting features needs the whole set in one process");
  SplitExport train_export, test_export;

  CachedPass cache;
  cache.budget = options.feature_cache_bytes;
  collect_features(model, train, options.device, [&](const Tensor& h, const Tensor& y, const Tensor& z) {
    analyzer.add_means_batch(h.data<float>(), y.data<int64_t>(), h.size(0));
    cache.add(h, y, z);
  });
  analyzer.finish_means(sum);
  if (options.class_means_out) *options.class_means_out = analyzer.shared_class_means();
  if (cache.complete) {
    for (const CachedPass::Chunk& c : cache.chunks) {
      const auto n = static_cast<int64_t>(c.labels.size());
      analyzer.add_second_pass_batch(c.features.data(), c.labels.data(), c.logits.data(), n);
      if (exporting) train_export.add_rows(c.features.data(), c.labels.data(), c.logits.data(), n, dim, classes);
    }
  } else {
    collect_features(model, train, options.device, [&](const Tensor& h, const Tensor& y, const Tensor& z) {
      analyzer.add_second_pass_batch(h.data<float>(), y.data<int64_t>(), z.data<float>(), h.size(0));
      if (exporting) train_export.add(h, y, z);
    });
  }
  if (test)
    collect_features(model, *test, options.device, [&](const Tensor& h, const Tensor& y, const Tensor& z) {
      analyzer.add_test_batch(h.data<float>(), y.data<int64_t>(), z.data<float>(), h.size(0));
      if (exporting) test_export.add(h, y, z);
    });
  if (sum) analyzer.sum_passes_across(sum);
  if (exporting) {
    const std::filesystem::path dir(options.export_dir);
    std::filesystem::create_directories(dir);
    train_export.write(dir, "train_");
    if (test) test_export.write(dir, "test_");
    write_npy((dir / "weights.npy").string(), w.data<float>(), {classes, dim});
    if (classifier.bias.defined()) {
      const Tensor b = classifier.bias.data().to(Device::cpu()).contiguous().to(DType::f32);
      write_npy((dir / "bias.npy").string(), b.data<float>(), {classes});
    }
  }
  return analyzer.compute_metrics(w.data<float>(), options.weight_decay_term);
}

Tensor classifier_weights(Network& model) {
  return model.classifier().weight.data().to(Device::cpu()).contiguous().to(DType::f32);
}

double weight_decay_term(Module& model, double weight_decay) {
  double sq = 0;
  for (auto& p : model.parameters())
    for (double v : p.data().to_double_vector()) sq += v * v;
  return 0.5 * weight_decay * sq;
}

}  // namespace collapse::nc
