#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
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

// "parameter 'layer1.0.conv1.weight' holds nan at index 17", or "" when every parameter is finite.
std::string first_non_finite_parameter(const Module& model) {
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor host = p.data().to(Device::cpu()).contiguous().to(DType::f32);
    const float* v = host.data<float>();
    for (int64_t i = 0; i < host.numel(); ++i)
      if (!std::isfinite(v[i]))
        return detail::concat("parameter '", name, "' holds ", v[i], " at index ", i);
  }
  return "";
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

Trainer::Trainer(Module& model, SGD& optimizer, MultiStepLR schedule, TrainerOptions options)
    : model_(model), optimizer_(optimizer), schedule_(std::move(schedule)), options_(options) {
  if (distributed())
    gradients_ = std::make_unique<GradientSynchronizer>(
        model_.parameters(), options_.gradient_comm ? *options_.gradient_comm : *options_.comm, options_.data_parallel);
}

EpochResult Trainer::train_epoch(int epoch, DataLoader& train, int64_t first_step) {
  EpochResult r;
  r.epoch = epoch;
  r.lr = schedule_.lr_for_epoch(epoch);
  optimizer_.set_lr(r.lr);
  model_.train();
  const int64_t total_steps = train.batches_per_epoch();
  COLLAPSE_CHECK(total_steps > 0, "train_epoch: the training set gave no full batch (fewer examples than batch size ",
                 train.options().batch_size, "?)");
  COLLAPSE_CHECK(first_step >= 0 && first_step < total_steps, "train_epoch: first step ", first_step,
                 " outside the epoch's ", total_steps, " batches");
  train.start_epoch(epoch, first_step);
  const auto start = Clock::now();
  if (first_epoch_ < 0) first_epoch_ = epoch, first_epoch_start_ = start;
  const bool live = !options_.quiet && isatty(fileno(stdout));
  auto last_live = start;
  double loss_sum = 0;
  int64_t errors = 0, steps = 0;
  Batch batch;
  while (train.next(batch)) {
    Tensor images = batch.images.to(options_.device), labels = batch.labels.to(options_.device);
    optimizer_.zero_grad();
    Variable logits = model_(Variable(images));
    Variable loss = classification_loss(logits, labels, options_.loss);
    double batch_loss = loss.data().item();
    int64_t batch_errors = count_errors(logits.data(), labels);
    bool stop_now = options_.stop && options_.stop->load() != 0;
    // This rank's share of the global batch's mean loss (data_parallel.h): B_r/B of its own mean.
    const double share = static_cast<double>(batch.size()) / static_cast<double>(batch.global_size);
    if (distributed()) {
      double global[3] = {batch_loss * share, static_cast<double>(batch_errors), stop_now ? 1.0 : 0.0};
      options_.comm->all_reduce_sum(global, 3);
      batch_loss = global[0], batch_errors = static_cast<int64_t>(global[1]), stop_now = global[2] > 0;
    }
    // Stop before the step: the weights stay those of the last finite step, and no diverged epoch is
    // ever reported or checkpointed.
    if (!std::isfinite(batch_loss))
      throw NonFiniteError(detail::concat("training diverged at epoch ", epoch, ", step ", first_step + steps + 1, "/", total_steps,
                                          ": the loss is ", batch_loss, " (lr ", r.lr, ")"));
    if (gradients_) {
      gradients_->begin_step();
      loss.backward(Tensor::full(loss.data().shape(), share, loss.data().dtype(), loss.data().device()));
      gradients_->finish();
    } else {
      loss.backward();
    }
    optimizer_.step();
    loss_sum += batch_loss;
    errors += batch_errors;
    r.images += batch.global_size;
    ++steps;
    const auto now = Clock::now();
    const bool every_n = options_.progress_every > 0 && steps % options_.progress_every == 0;
    if (!options_.quiet && (every_n || (live && now - last_live > std::chrono::milliseconds(500)))) {
      const double s = std::chrono::duration<double>(now - start).count();
      std::printf("%sepoch %d step %lld/%lld  loss %.4f  %.0f img/s%s", live ? "\r\033[2K" : "  ", epoch,
                  static_cast<long long>(first_step + steps), static_cast<long long>(total_steps), loss_sum / steps,
                  r.images / s, live ? "" : "\n");
      std::fflush(stdout);
      last_live = now;
    }
    if (stop_now && first_step + steps < total_steps) {
      r.stopped = true;
      break;
    }
  }
  r.steps_done = first_step + steps;
  if (live) std::printf("\r\033[2K");
  // A finite loss can still hide an overflowed weight the next epoch would spread (one pass over the
  // parameters per epoch: negligible beside the epoch).
  if (const std::string bad = first_non_finite_parameter(model_); !bad.empty())
    throw NonFiniteError(detail::concat("training diverged in epoch ", epoch, ": ", bad, " (lr ", r.lr, ")"));
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.loss = loss_sum / static_cast<double>(steps);
  r.error = static_cast<double>(errors) / static_cast<double>(r.images);
  if (!options_.quiet && !r.stopped) {
    const double so_far = std::chrono::duration<double>(Clock::now() - first_epoch_start_).count();
    const double eta = so_far / (epoch - first_epoch_ + 1) * (options_.epochs - epoch);
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
    if (batch.size() == 0) continue;  // a rank's empty slice of a short last batch
    Tensor images = batch.images.to(options_.device), labels = batch.labels.to(options_.device);
    Variable logits = model_(Variable(images));
    const int64_t n = images.size(0);
    loss_sum += classification_loss(logits, labels, options_.loss).data().item() * static_cast<double>(n);
    errors += count_errors(logits.data(), labels);
    r.images += n;
  }
  model_.train();
  if (distributed()) {
    double totals[3] = {loss_sum, static_cast<double>(errors), static_cast<double>(r.images)};
    options_.comm->all_reduce_sum(totals, 3);
    loss_sum = totals[0], errors = static_cast<int64_t>(totals[1]), r.images = static_cast<int64_t>(totals[2]);
  }
  COLLAPSE_CHECK(r.images > 0, "evaluate: the data source is empty");
  r.loss = loss_sum / static_cast<double>(r.images);
  r.error = static_cast<double>(errors) / static_cast<double>(r.images);
  return r;
}

}  // namespace collapse
