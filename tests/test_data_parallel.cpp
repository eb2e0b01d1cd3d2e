// Data parallelism without MPI: the loader's shards, synchronised batch norm and the analysis' sums across
// replicas, checked with K replicas simulated by K threads of one process (InProcessReplicas below), against
// the single-process computation. The same code under mpirun is tested end to end by
// tests/mpi/test_data_parallel.py (nc-experiment with 2 ranks against 1 process).
#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <numeric>
#include <optional>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "autograd/functional.h"
#include "backends/channel_statistics.h"
#include "data/data_loader.h"
#include "distributed/communicator.h"
#include "layers/layers.h"
#include "layers/models/network.h"
#include "nc/collapse_analyzer.h"
#include "train/data_parallel.h"
#include "tests/testing/gradcheck.h"
#include "tests/testing/memory_dataset.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

// K threads standing for K ranks: sum() adds each thread's values into a shared buffer and hands every
// thread the total, as an all-reduce does (the calls of the K threads pair up in order).
class InProcessReplicas {
 public:
  explicit InProcessReplicas(int count) : count_(count), summed_(count, Publish{this}), read_(count) {}
  SumAcrossReplicas sum() {
    return [this](double* values, int64_t n) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (total_.empty()) total_.assign(static_cast<size_t>(n), 0.0);
        for (int64_t i = 0; i < n; ++i) total_[i] += values[i];
      }
      summed_.arrive_and_wait();  // the last to arrive publishes the total and clears it for the next call
      std::copy(result_.begin(), result_.end(), values);
      read_.arrive_and_wait();  // nobody publishes the next total before every replica has read this one
    };
  }
  // Runs fn(rank) on K threads and waits for all.
  void run(const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    for (int r = 0; r < count_; ++r) threads.emplace_back(fn, r);
    for (auto& t : threads) t.join();
  }

 private:
  struct Publish {
    InProcessReplicas* self;
    void operator()() noexcept {
      self->result_ = std::move(self->total_);
      self->total_.clear();
    }
  };
  int count_;
  std::mutex mutex_;
  std::vector<double> total_, result_;
  std::barrier<Publish> summed_;
  std::barrier<> read_;
};

// Example i is the single value i, with label i (of 1000 classes): a batch's labels name its examples.
std::shared_ptr<MemoryDataset> counting_dataset(int64_t n) {
  return memory_dataset(n, {1, 1, 1}, 1000, [](int64_t i) { return i; },
                        [](int64_t i, int64_t, int64_t, int64_t) { return static_cast<float>(i); });
}

std::vector<int64_t> labels_of(const Batch& b) {
  const int64_t* p = b.labels.data<int64_t>();
  return std::vector<int64_t>(p, p + b.size());
}

}  // namespace

// The K shards of every training batch, side by side in rank order, are the single-process batch.
TEST(DataParallel, ShardsOfEachBatchMakeUpTheSingleProcessBatch) {
  auto data = counting_dataset(47);
  for (int K : {1, 2, 3, 5}) {
    LoaderOptions opts;
    opts.batch_size = 10;
    opts.seed = 99;
    DataLoader whole(data, opts);
    std::vector<std::unique_ptr<DataLoader>> shards;
    for (int r = 0; r < K; ++r) shards.push_back(std::make_unique<DataLoader>(data, LoaderOptions(opts).sharded(r, K)));
    for (int epoch : {1, 7}) {
      whole.start_epoch(epoch);
      for (auto& s : shards) s->start_epoch(epoch);
      Batch expected;
      int batches = 0;
      while (whole.next(expected)) {
        std::vector<int64_t> joined;
        for (auto& s : shards) {
          Batch part;
          ASSERT_TRUE(s->next(part));
          EXPECT_EQ(part.global_size, 10);
          const auto labels = labels_of(part);
          joined.insert(joined.end(), labels.begin(), labels.end());
        }
        EXPECT_EQ(joined, labels_of(expected)) << "K=" << K << " epoch " << epoch << " batch " << batches;
        ++batches;
      }
      EXPECT_EQ(batches, 4);
      for (auto& s : shards) {
        Batch none;
        EXPECT_FALSE(s->next(none));
      }
    }
  }
}

// Evaluation shards cover the set once, including a last batch smaller than the number of ranks.
TEST(DataParallel, EvaluationShardsCoverTheSetOnce) {
  auto data = counting_dataset(22);  // batches of 10, 10, 2: the last shared by 3 ranks
  std::vector<int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    DataLoader shard(data, LoaderOptions::evaluation(10).sharded(r, 3));
    shard.start_epoch(0);
    Batch b;
    while (shard.next(b)) {
      const auto labels = labels_of(b);
      seen.insert(seen.end(), labels.begin(), labels.end());
    }
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> all(22);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);
  using Rows = std::pair<int64_t, int64_t>;
  EXPECT_EQ(shard_rows(2, 0, 3), Rows(0, 0));
  EXPECT_EQ(shard_rows(10, 2, 3), Rows(6, 10));
  expect_error_containing([&] { DataLoader(data, LoaderOptions{.batch_size = 2}.sharded(0, 3)); },
                          {"batch of 2", "3 ranks"});
}

namespace {

struct BnCase {
  Tensor x, gamma, beta, dy;
};
BnCase bn_case(const Shape& shape, DType dtype, Generator& gen) {
  const int64_t C = shape[1];
  const MemoryFormat layout = shape.size() == 4 ? MemoryFormat::channels_last : MemoryFormat::contiguous;
  return {random_tensor(shape, dtype, gen, layout, -2.0, 3.0), random_tensor({C}, dtype, gen, MemoryFormat::contiguous, 0.5, 1.5),
          random_tensor({C}, dtype, gen), random_tensor(shape, dtype, gen, layout)};
}

struct BnResult {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};
// Training-mode batch norm of `x` (plain, or synchronised with `sum`), forward and backward with dy.
BnResult run_bn(const Tensor& x, const BnCase& c, const Tensor& dy, const SumAcrossReplicas& sum) {
  const int64_t C = c.gamma.numel();
  Tensor rm = Tensor::zeros({C}, x.dtype()), rv = Tensor::full({C}, 1.0, x.dtype());
  Variable xv(x.clone(), true), g(c.gamma.clone(), true), b(c.beta.clone(), true);
  Variable y = sum ? sync_batch_norm(xv, g, b, rm, rv, 0.1, 1e-5, sum) : batch_norm(xv, g, b, rm, rv, true, 0.1, 1e-5);
  y.backward(dy);
  return {y.data(), xv.grad(), g.grad(), b.grad(), rm, rv};
}

}  // namespace

// One replica: sync_batch_norm is batch_norm (float64 on ref, float32 on cpu), and its gradients match
// finite differences.
TEST(SyncBatchNorm, AloneItIsBatchNorm) {
  Generator gen(5);
  auto nothing = [](double*, int64_t) {};
  for (DType dtype : {DType::f64, DType::f32})
    for (const Shape& shape : {Shape{4, 3, 5, 2}, Shape{6, 4}}) {
      SCOPED_TRACE(dtype_name(dtype) + std::string(" ") + shape_str(shape));
      const BnCase c = bn_case(shape, dtype, gen);
      const BnResult plain = run_bn(c.x, c, c.dy, nullptr), synced = run_bn(c.x, c, c.dy, nothing);
      const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
      expect_close(synced.y, plain.y, tol, tol, "y");
      expect_close(synced.dx, plain.dx, tol, tol, "dx");
      expect_close(synced.dgamma, plain.dgamma, tol, tol, "dgamma");
      expect_close(synced.dbeta, plain.dbeta, tol, tol, "dbeta");
      expect_close(synced.running_mean, plain.running_mean, tol, tol, "running_mean");
      expect_close(synced.running_var, plain.running_var, tol, tol, "running_var");
    }
  const BnCase c = bn_case({3, 2, 2, 3}, DType::f64, gen);
  Variable x(c.x, true), g(c.gamma, true), b(c.beta, true);
  auto forward = [&](const Variable& xv, const Variable& gv, const Variable& bv) {
    Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::full({2}, 1.0, DType::f64);
    return sync_batch_norm(xv, gv, bv, rm, rv, 0.1, 1e-5, nothing);
  };
  forward(x, g, b).backward(c.dy);
  auto loss = [&] {
    NoGradGuard no_grad;
    return dot(forward(x.detach(), g.detach(), b.detach()).data(), c.dy);
  };
  expect_gradient_matches(loss, c.x, x.grad(), 1e-6, "dx");
  expect_gradient_matches(loss, c.gamma, g.grad(), 1e-6, "dgamma");
  expect_gradient_matches(loss, c.beta, b.grad(), 1e-6, "dbeta");
}

// K replicas, each with its slice of the batch (slices of unequal sizes), compute batch norm over the whole
// batch: outputs and input gradients are the slices of the single-process ones, and the parameter gradients
// summed over replicas (what data parallelism does next) are the single-process ones.
TEST(SyncBatchNorm, ReplicasComputeTheWholeBatchsBatchNorm) {
  Generator gen(6);
  for (int K : {2, 3}) {
    SCOPED_TRACE("K=" + std::to_string(K));
    const BnCase c = bn_case({7, 3, 2, 2}, DType::f64, gen);
    const BnResult whole = run_bn(c.x, c, c.dy, nullptr);
    InProcessReplicas replicas(K);
    std::vector<BnResult> parts(K);
    replicas.run([&](int r) {
      const auto [first, last] = shard_rows(7, r, K);
      parts[r] = run_bn(c.x.narrow(0, first, last - first), c, c.dy.narrow(0, first, last - first), replicas.sum());
    });
    Tensor dgamma = Tensor::zeros({3}, DType::f64), dbeta = Tensor::zeros({3}, DType::f64);
    for (int r = 0; r < K; ++r) {
      const auto [first, last] = shard_rows(7, r, K);
      expect_close(parts[r].y, whole.y.narrow(0, first, last - first), 1e-12, 1e-12, "y");
      expect_close(parts[r].dx, whole.dx.narrow(0, first, last - first), 1e-12, 1e-12, "dx");
      expect_close(parts[r].running_mean, whole.running_mean, 1e-12, 1e-12, "running_mean");
      expect_close(parts[r].running_var, whole.running_var, 1e-12, 1e-12, "running_var");
      axpy(1.0, parts[r].dgamma, dgamma);
      axpy(1.0, parts[r].dbeta, dbeta);
    }
    expect_close(dgamma, whole.dgamma, 1e-12, 1e-12, "summed dgamma");
    expect_close(dbeta, whole.dbeta, 1e-12, 1e-12, "summed dbeta");
  }
}

// The cpu kernels of backends/channel_statistics.h against the reference, on channels-last float32.
TEST(ChannelStatistics, CpuMatchesReference) {
  Generator gen(7);
  for (const Shape& shape : {Shape{8, 16, 9, 9}, Shape{300, 5}}) {
    SCOPED_TRACE(shape_str(shape));
    const BnCase c = bn_case(shape, DType::f32, gen);
    const int64_t C = shape[1];
    auto per_channel = [&] { return Tensor::empty({C}, DType::f64); };
    Tensor mean[2] = {per_channel(), per_channel()}, m2[2] = {per_channel(), per_channel()};
    Tensor sdy[2] = {per_channel(), per_channel()}, sdyc[2] = {per_channel(), per_channel()};
    Tensor out[2] = {Tensor::empty_activation(shape), Tensor::empty_activation(shape)};
    const Tensor a = random_tensor({C}, DType::f64, gen), b = random_tensor({C}, DType::f64, gen),
                 k = random_tensor({C}, DType::f64, gen);
    for (int reference : {0, 1}) {
      std::optional<ReferenceModeGuard> guard;
      if (reference) guard.emplace();
      channel_moments(c.x, mean[reference], m2[reference]);
      channel_gradient_sums(c.dy, c.x, mean[0], sdy[reference], sdyc[reference]);
      channel_affine(c.dy, c.x, a, b, k, out[reference]);
    }
    expect_close(mean[0], mean[1], 1e-12, 1e-12, "mean");
    expect_close(m2[0], m2[1], 1e-12, 1e-9, "squared deviations");
    expect_close(sdy[0], sdy[1], 1e-12, 1e-9, "sum dy");
    expect_close(sdyc[0], sdyc[1], 1e-12, 1e-9, "sum dy (x - mean)");
    expect_close(out[0], out[1], 1e-6, 1e-6, "affine");
  }
  Tensor x = Tensor::empty_activation({2, 3, 2, 2}), wrong = Tensor::empty({4}, DType::f64), ok = Tensor::empty({3}, DType::f64);
  expect_error_containing([&] { channel_moments(x, wrong, ok); }, {"channel_moments", "mean", "float64[3]"});
}

// The analysis fed in shards by K replicas, its sums added across them, gives the single-process metrics.
TEST(DataParallel, ShardedAnalysisEqualsTheSingleProcessOne) {
  Generator gen(8);
  const int64_t C = 4, p = 6, n = 203;
  const Tensor h = random_tensor({n, p}, DType::f64, gen), z = random_tensor({n, C}, DType::f64, gen);
  const Tensor y = random_labels(n, C, gen), w = random_tensor({C, p}, DType::f64, gen);
  const double* hp = h.data<double>();
  const double* zp = z.data<double>();
  const int64_t* yp = y.data<int64_t>();
  auto analyze = [&](int64_t first, int64_t last, const SumAcrossReplicas& sum) {
    nc::CollapseAnalyzer a(C, p);
    a.add_means_batch(hp + first * p, yp + first, last - first);
    a.finish_means(sum);
    a.add_second_pass_batch(hp + first * p, yp + first, zp + first * C, last - first);
    a.add_test_batch(hp + first * p, yp + first, zp + first * C, last - first);
    if (sum) a.sum_passes_across(sum);
    return a.compute_metrics(w.data<double>());
  };
  const nc::CollapseMetrics whole = analyze(0, n, nullptr);
  InProcessReplicas replicas(3);
  std::vector<nc::CollapseMetrics> parts(3);
  replicas.run([&](int r) {
    const auto [first, last] = shard_rows(n, r, 3);
    parts[r] = analyze(first, last, replicas.sum());
  });
  const nlohmann::json expected = nc::to_json(whole);
  for (int r = 0; r < 3; ++r) {
    const nlohmann::json got = nc::to_json(parts[r]);
    for (auto& [key, value] : expected.items()) {
      if (!value.is_number()) continue;
      EXPECT_NEAR(got[key].get<double>(), value.get<double>(), 1e-10 * std::max(1.0, std::abs(value.get<double>())))
          << key << " on replica " << r;
    }
  }
}

// Alone, the synchronizer leaves gradients as backward made them and removes its hooks when it goes.
TEST(DataParallel, GradientSynchronizerAloneLeavesGradientsAlone) {
  Generator gen(9);
  Linear layer(5, 3, gen);
  auto world = distributed::single_process();
  const Tensor x = random_tensor({4, 5}, DType::f32, gen);
  {
    GradientSynchronizer sync(layer.parameters(), *world, {.bucket_bytes = 16});
    EXPECT_EQ(sync.bucket_count(), 2);  // 3 floats of bias, then the 15 weights (one parameter per bucket at least)
    sync.begin_step();
    Variable out = linear(Variable(x), layer.weight, layer.bias);
    out.backward(Tensor::full({4, 3}, 1.0));
    const Tensor before = layer.weight.grad().clone();
    sync.finish();
    expect_close(layer.weight.grad(), before, 0, 0, "weight gradient");
  }
  EXPECT_FALSE(layer.weight.impl()->post_accumulate_hook);
}

// A whole ResNet whose batch norms are synchronised (with nothing to add: one replica) computes the loss and
// parameter gradients of the fused batch norm + ReLU path it replaces, up to float32 rounding.
TEST(SyncBatchNorm, ResNetAloneMatchesTheFusedPath) {
  Generator gen(10);
  NetworkPtr model = build_model({"resnet", 18, 0.125, 1, 32, 10}, gen);
  const Tensor x = random_tensor({16, 1, 32, 32}, DType::f32, gen, MemoryFormat::channels_last);
  const Tensor y = random_labels(16, 10, gen);
  const StateDict initial = model->state_dict();
  auto gradients = [&](bool synchronised) {
    StateDict copy;
    for (auto& [name, t] : initial) copy.emplace_back(name, t.clone());
    model->load_state_dict(copy);
    synchronize_batch_norm(*model, synchronised ? SumAcrossReplicas([](double*, int64_t) {}) : SumAcrossReplicas());
    for (auto& p : model->parameters()) p.zero_grad();
    Variable loss = cross_entropy((*model)(Variable(x)), y);
    loss.backward();
    std::vector<Tensor> grads{loss.data().clone()};
    for (auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  const std::vector<Tensor> fused = gradients(false), synced = gradients(true);
  double worst = 0;
  for (size_t i = 0; i < fused.size(); ++i) worst = std::max(worst, max_rel_error(synced[i], fused[i]));
  EXPECT_LT(worst, 1e-3) << "largest relative difference of the loss or a parameter gradient";
  std::printf("sync vs fused batch norm, ResNet18 w1/8: largest relative gradient difference %.3g\n", worst);
}
