// bench-nc: time and peak memory of the two-pass NC analysis (nc/collapse_analyzer.h) at the sizes of the
// paper's data sets, one thread. Features (float32, as a model produces them) are generated in memory
// batch by batch, so memory shows what the analysis itself holds; the logits, which a model's forward
// pass would supply, are computed outside the timed region.
//
//   bench-nc                      # N=50,000 p=512 C=10, then N=50,000 p=4096 C=100
//   bench-nc --n 50000 --dim 4096 --classes 100 --batch 256
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include "core/rng.h"
#include "nc/collapse_analyzer.h"
#include "nc/linear_classifier.h"

namespace {

using collapse::Generator;
using namespace collapse::nc;

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

class Stopwatch {
 public:
  void start() { begin_ = std::chrono::steady_clock::now(); }
  void stop() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count(); }
  double seconds() const { return total_; }

 private:
  std::chrono::steady_clock::time_point begin_;
  double total_ = 0.0;
};

// Deterministic synthetic features: batch b always holds the same samples, so pass 2 sees what pass 1
// saw. Noise comes from a fixed pool at an offset that depends on the batch (generating fresh normals for
// 2·10⁸ values per pass would cost more than the analysis being measured).
class SyntheticFeatures {
 public:
  SyntheticFeatures(int64_t classes, int64_t dim, int64_t batch) : classes_(classes), dim_(dim), batch_(batch) {
    Generator gen(1);
    means_.resize(static_cast<size_t>(classes * dim));
    for (auto& v : means_) v = static_cast<float>(2.0 * gen.normal());
    noise_.resize(static_cast<size_t>((batch + 257) * dim));
    for (auto& v : noise_) v = static_cast<float>(0.5 * gen.normal());
  }

  void fill(int64_t batch_index, int64_t rows, std::vector<float>& features, std::vector<int64_t>& labels) const {
    features.resize(static_cast<size_t>(rows * dim_));
    labels.resize(static_cast<size_t>(rows));
    const int64_t shift = (batch_index * 7919) % 257;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t sample = batch_index * batch_ + i;
      const int64_t label = (sample * 31 + sample / 7) % classes_;
      labels[static_cast<size_t>(i)] = label;
      const float* mean = means_.data() + label * dim_;
      const float* noise = noise_.data() + (shift + i) * dim_;
      float* out = features.data() + i * dim_;
      for (int64_t j = 0; j < dim_; ++j) out[j] = mean[j] + noise[j];
    }
  }

 private:
  int64_t classes_, dim_, batch_;
  std::vector<float> means_;
  std::vector<float> noise_;
};

void run(int64_t n, int64_t dim, int64_t classes, int64_t batch) {
  const SyntheticFeatures data(classes, dim, batch);
  Generator gen(2);
  std::vector<float> weights(static_cast<size_t>(classes * dim)), bias(static_cast<size_t>(classes));
  for (auto& v : weights) v = static_cast<float>(gen.normal() / 30.0);
  for (auto& v : bias) v = static_cast<float>(gen.normal() / 30.0);
  const LinearClassifier classifier(weights.data(), bias.data(), classes, dim);

  std::vector<float> features;
  std::vector<int64_t> labels;
  std::vector<double> logits(static_cast<size_t>(batch * classes));
  Stopwatch pass1, finish, pass2, metrics_time, logits_time, generation;
  const int64_t batches = (n + batch - 1) / batch;

  CollapseAnalyzer analyzer(classes, dim);
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t rows = std::min(batch, n - b * batch);
    generation.start();
    data.fill(b, rows, features, labels);
    generation.stop();
    pass1.start();
    analyzer.add_means_batch(features.data(), labels.data(), rows);
    pass1.stop();
  }
  finish.start();
  analyzer.finish_means();
  finish.stop();
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t rows = std::min(batch, n - b * batch);
    generation.start();
    data.fill(b, rows, features, labels);
    generation.stop();
    logits_time.start();
    classifier.logits(features.data(), rows, logits.data());
    logits_time.stop();
    pass2.start();
    analyzer.add_second_pass_batch(features.data(), labels.data(), logits.data(), rows);
    pass2.stop();
  }
  metrics_time.start();
  const CollapseMetrics m = analyzer.compute_metrics(weights.data());
  metrics_time.stop();

  const double analysis = pass1.seconds() + finish.seconds() + pass2.seconds() + metrics_time.seconds();
  std::printf("N=%lld p=%lld C=%lld batch=%lld\n", static_cast<long long>(n), static_cast<long long>(dim),
              static_cast<long long>(classes), static_cast<long long>(batch));
  std::printf("  analysis %.3f s  (pass 1 %.3f, means+SVD %.3f, pass 2 %.3f, metrics %.3f)\n", analysis,
              pass1.seconds(), finish.seconds(), pass2.seconds(), metrics_time.seconds());
  std::printf("  outside the analysis: feature generation %.3f s, logits Wh+b %.3f s\n", generation.seconds(),
              logits_time.seconds());
  std::printf("  peak RSS so far %.1f MiB   (nc1 %.4g, train error %.4g, nc4_train %.4g)\n", peak_rss_mib(), m.nc1,
              m.train_error, m.nc4_train);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time and peak memory of the NC analysis, one thread"};
  int64_t n = 0, dim = 0, classes = 0, batch = 256;
  app.add_option("--n", n, "training samples (default: the two standard sizes)");
  app.add_option("--dim", dim, "feature dimension p");
  app.add_option("--classes", classes, "number of classes C");
  app.add_option("--batch", batch, "rows per batch")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  Eigen::setNbThreads(1);  // the figures are for one thread, whatever OMP_NUM_THREADS says
  std::printf("peak RSS at start %.1f MiB\n", peak_rss_mib());
  if (n > 0 && dim > 0 && classes > 0) {
    run(n, dim, classes, batch);
  } else {
    run(50000, 512, 10, batch);    // goal: < 2 s
    run(50000, 4096, 100, batch);  // goal: < 10 s
  }
  return 0;
}
