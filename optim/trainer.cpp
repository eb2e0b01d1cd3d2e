#include "optim/trainer.h"

#include <chrono>
#include <cstdio>

#include "autograd/functional.h"

namespace collapse {
namespace {
using Clock = std::chrono::steady_clock;

// Misclassified examples in a batch: argmax of the logits against the labels.
int64_t count_errors(const Tensor& logits, const Tensor& labels) {
  Tensor host = logits.to(Device::cpu()).contiguous().to(DType::f32);
  Tensor lab = labels.to(Device::cpu());
  const float* p = host.data<float>();
  const int64_t* y = lab.data<int64_t>();
  const int64_t n = host.size(0), c = host.size(1);
  int64_t errors = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (p[i * c + j] > p[i * c + best]) best = j;
    errors += best != y[i];
  }
  return errors;
}

std::string format_duration(double seconds) {
  char buf[32];
  const int s = static_cast<int>(seconds + 0.5);
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, (s % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  return buf;
}
}  // namespace

void TerminalPhaseTracker::observe(int epoch, double train_error) {
  if (!onset_ && accurate_enough(train_error)) onset_ = epoch;
  if (!zero_ && train_error == 0.0) zero_ = epoch;
}

Trainer::Trainer(Network& model, SGD& optimizer, MultiStepLR schedule, TrainerOptions options)
    : model_(model), optimizer_(optimizer), schedule_(std::move(schedule)), options_(options) {}

EpochResult Trainer::train_epoch(int epoch, DataLoader& train) {
  EpochResult r;
  r.epoch = epoch;
  r.lr = schedule_.lr_for_epoch(epoch);
  optimizer_.set_lr(r.lr);
  model_.train();
  train.start_epoch(epoch);
  const auto start = Clock::now();
  double loss_sum = 0;
  int64_t errors = 0, steps = 0;
  const int64_t total_steps = train.batches_per_epoch();
  Batch batch;
  while (train.next(batch)) {
    Tensor images = batch.images.to(options_.device), labels = batch.labels.to(options_.device);
    optimizer_.zero_grad();
    Variable logits = model_(Variable(images));
    Variable loss = cross_entropy(logits, labels);
    loss.backward();
    optimizer_.step();
    loss_sum += loss.data().item();
    errors += count_errors(logits.data(), labels);
    r.images += images.size(0);
    ++steps;
    if (!options_.quiet && options_.progress_every > 0 && steps % options_.progress_every == 0) {
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      std::printf("  epoch %d step %lld/%lld loss %.4f %.0f img/s\n", epoch, static_cast<long long>(steps),
                  static_cast<long long>(total_steps), loss_sum / steps, r.images / s);
      std::fflush(stdout);
    }
  }
  COLLAPSE_CHECK(steps > 0, "train_epoch: the training set gave no full batch (fewer examples than batch size ",
                 train.options().batch_size, "?)");
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.loss = loss_sum / static_cast<double>(steps);
  r.error = static_cast<double>(errors) / static_cast<double>(r.images);
  if (!options_.quiet) {
    const double eta = r.seconds * (options_.epochs - epoch);
    std::printf("epoch %d/%d  lr %.4g  loss %.4f  train-err %.4f  %.0f img/s  %.1fs  ETA %s\n", epoch,
                options_.epochs, r.lr, r.loss, r.error, r.images / r.seconds, r.seconds, format_duration(eta).c_str());
    std::fflush(stdout);
  }
  return r;
}

EvalResult Trainer::evaluate(DataLoader& source) {
  NoGradGuard no_grad;
  model_.eval();
  source.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  int64_t errors = 0;
  Batch batch;
  while (source.next(batch)) {
    Tensor images = batch.images.to(options_.device), labels = batch.labels.to(options_.device);
    Variable logits = model_(Variable(images));
    const int64_t n = images.size(0);
    loss_sum += cross_entropy(logits, labels).data().item() * static_cast<double>(n);
    errors += count_errors(logits.data(), labels);
    r.images += n;
  }
  model_.train();
  COLLAPSE_CHECK(r.images > 0, "evaluate: the data source is empty");
  r.loss = loss_sum / static_cast<double>(r.images);
  r.error = static_cast<double>(errors) / static_cast<double>(r.images);
  return r;
}

}  // namespace collapse
