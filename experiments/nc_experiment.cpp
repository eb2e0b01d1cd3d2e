// nc-experiment: one run of the Neural Collapse protocol (Papyan, Han & Donoho 2020): train with SGD
// past zero training error, measure every NC quantity at log-spaced epochs, write a run folder with
// config.json, metrics.jsonl, summary.json, checkpoints/ and plots/. Restarted with the same command and
// --resume, a killed run continues from its last checkpoint.
#include <omp.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/profiler.h"
#include "data/registry.h"
#include "data/subset_dataset.h"
#include "experiments/support/protocol.h"
#include "experiments/support/run_folder.h"
#include "experiments/support/summary.h"
#include "nc/class_geometry.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"
#include "optim/trainer.h"

using namespace collapse;
using namespace collapse::experiment;
namespace fs = std::filesystem;

namespace {

template <class T>
std::vector<T> parse_list(const std::string& flag, const std::string& text) {
  std::vector<T> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(static_cast<T>(std::stoll(item, &used)));
      COLLAPSE_CHECK(used == item.size(), "");
    } catch (...) {
      COLLAPSE_FAIL(flag, ": '", item, "' is not an integer (expected a comma-separated list like 10,20)");
    }
  }
  return out;
}

ExperimentConfig parse_args(int argc, char** argv, CLI::App& app) {
  ExperimentConfig c;
  std::string milestones, measure, extra;
  app.add_option("--dataset", c.dataset, "mnist, fashion-mnist, kmnist, svhn, cifar10, cifar100, stl10, imagenet")
      ->capture_default_str();
  app.add_option("--data-root", c.data_root, "folder holding one sub-folder per dataset")->capture_default_str();
  app.add_option("--arch", c.arch, "model family: vgg, resnet, densenet, or a registered one")->capture_default_str();
  app.add_option("--depth", c.depth, "depth (default: the paper's for the dataset)");
  app.add_option("--width", c.width, "channel multiplier (1 = the published widths)")->capture_default_str();
  app.add_option("--growth-rate", c.growth_rate, "densenet: growth rate k before --width (default 12 for "
                 "DenseNet-BC 40/100/250, 32 for 121/169/201; Huang et al.'s BC-250 used 24)");
  app.add_option("--per-class", c.per_class, "training images per class (default: the paper's; 0 = all)");
  app.add_option("--test-per-class", c.test_per_class, "test images per class (0 = the whole test set)")
      ->capture_default_str();
  app.add_option("--image-size", c.image_size, "imagenet: centre-crop side in pixels (default 224; the shorter side "
                 "is resized to side*256/224 first)");
  app.add_option("--epochs", c.epochs, "training epochs (default: the paper's, 350; ImageNet 300)");
  app.add_option("--lr", c.lr, "initial learning rate")->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "coupled weight decay (default 5e-4, ImageNet 1e-4)");
  app.add_option("--batch-size", c.batch_size, "batch size (default 128, ImageNet 256)");
  app.add_option("--lr-milestones", milestones, "epochs after which lr /= 10, e.g. 116,233 (default E/3,2E/3)");
  app.add_option("--measure-epochs", measure, "epochs to measure at, e.g. 0,1,5,10 (default: log-like list)");
  app.add_option("--measure", extra, "extra measurements at each measured epoch, comma-separated, or 'none' "
                 "(default: those on by default; see --list)");
  app.add_option("--seed", c.seed, "seed of everything random")->capture_default_str();
  app.add_option("--threads", c.threads, "OpenMP threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", c.device, "cpu or cuda")->capture_default_str();
  app.add_option("--out", c.out, "run folder (default runs/<dataset>-<arch><depth>-w<width>-s<seed>)");
  app.add_flag("--resume", c.resume, "continue from the run folder's last checkpoint");
  app.add_flag("--export-features", c.export_features, "write features/labels/logits/weights .npy at each measurement");
  app.add_flag("--keep-checkpoints", c.keep_checkpoints, "keep every measured epoch's checkpoint, not only the last");
  app.add_flag("--quiet", c.quiet, "no per-epoch progress lines");
  app.add_flag("--profile", c.profile, "print time per op type and per layer over the second trained epoch");
  bool list = false;
  app.add_flag("--list", list, "list the registered datasets, architectures and measurements, then exit");
  app.parse(argc, argv);
  if (list) {
    std::printf("datasets: %s\narchitectures:\n", dataset_names().c_str());
    for (auto& a : registered_models()) std::printf("  %-10s %s\n", a.c_str(), model_description(a).c_str());
    std::printf("measurements (--measure):\n");
    for (auto& m : nc::registered_measurements())
      std::printf("  %-16s %s%s\n", m.name.c_str(), m.description.c_str(), m.default_on ? " [default]" : "");
    std::exit(0);
  }
  if (!milestones.empty()) c.lr_milestones = parse_list<int>("--lr-milestones", milestones);
  if (!measure.empty()) c.measure_epochs = parse_list<int>("--measure-epochs", measure);
  if (!extra.empty()) {
    c.measurements_given = true;
    std::stringstream ss(extra);
    for (std::string name; std::getline(ss, name, ',');)
      if (name != "none" && !name.empty()) c.measurements.push_back(name);
  }
  resolve_defaults(c);
  return c;
}

nlohmann::json measurement_line(int epoch, double lr, const nc::CollapseMetrics& m, double wall_seconds) {
  nlohmann::json line = {{"epoch", epoch}, {"lr", lr}};
  line.update(nc::to_json(m));
  line["wall_seconds"] = wall_seconds;
  return line;
}

void print_measurement(int epoch, const nc::CollapseMetrics& m) {
  std::printf("  measure epoch %d: train-err %.4f test-err %s  NC1 %.4g  equinorm %.3f/%.3f  equiangular %.3f/%.3f  "
              "NC3 %.4f  NC4 %s\n",
              epoch, m.train_error, m.test_error ? std::to_string(*m.test_error).c_str() : "-", m.nc1,
              m.equinorm_means, m.equinorm_classifiers, m.equiangular_means, m.equiangular_classifiers, m.nc3,
              m.nc4 ? std::to_string(*m.nc4).c_str() : "-");
  std::fflush(stdout);
}

void print_terminal_phase(const nlohmann::json& change) {
  std::printf("terminal phase, epoch %d -> %d:", change["from_epoch"].get<int>(), change["to_epoch"].get<int>());
  for (const char* key : {"nc1", "equinorm_means", "equiangular_means", "nc3", "nc4"})
    if (change.contains(key))
      std::printf("  %s %.4g -> %.4g", key, change[key]["at_onset"].get<double>(), change[key]["final"].get<double>());
  if (change.contains("nc1_reduction")) std::printf("  (NC1 %.1fx lower)", change["nc1_reduction"].get<double>());
  std::printf("\n");
  if (change.contains("last_uninterrupted_stretch") && !change["last_uninterrupted_stretch"].is_null()) {
    const auto& stretch = change["last_uninterrupted_stretch"];
    std::printf("the terminal phase was interrupted (summary.json: tpt_interruptions); over its last uninterrupted "
                "stretch, epoch %d -> %d, NC1 fell %.1fx\n",
                stretch["from_epoch"].get<int>(), stretch["to_epoch"].get<int>(), stretch["nc1_reduction"].get<double>());
  }
}

// The protocol's training sets are balanced; --per-class 0 on a file that is not (the KMNIST subset here:
// 596-678 per class) trains on what it holds. Said, recorded in config.json, and (by make_summary) in the
// summary, so an unbalanced run is never mistaken for a protocol run.
void report_class_counts(const std::vector<int64_t>& counts, nlohmann::json& config) {
  config["train_class_counts"] = counts;
  if (counts.empty()) return;
  const auto [fewest, most] = std::minmax_element(counts.begin(), counts.end());
  std::string list;
  for (int64_t n : counts) list += (list.empty() ? "" : " ") + std::to_string(n);
  std::printf("train images per class: %s\n", list.c_str());
  if (*fewest != *most)
    std::printf("warning: the training set is unbalanced (%lld to %lld images per class); the paper's protocol "
                "balances it (give --per-class N to draw N per class)\n",
                static_cast<long long>(*fewest), static_cast<long long>(*most));
}

std::string find_python_with(const std::string& modules) {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    std::string cmd = std::string(py) + " -c 'import " + modules + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

// A resumed run ends where the uninterrupted one would only under the same arithmetic: the same code, oneDNN
// and the instruction set it dispatches to, thread count (reduction order) and convolution algorithm. Says
// which of these changed since config.json.
void warn_if_arithmetic_changed(const RunFolder& folder, const nlohmann::json& config) {
  std::ifstream in(folder.file("config.json"));
  if (!in) return;
  const nlohmann::json before = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!before.is_object() || !before.contains("environment")) return;
  for (const char* key :
       {"collapse_git_commit", "onednn", "onednn_cpu_isa", "omp_max_threads", "cpu_conv_winograd"}) {
    const nlohmann::json& was = before["environment"].value(key, nlohmann::json());
    const nlohmann::json& now = config["environment"][key];
    if (was != now)
      std::printf("warning: --resume with %s = %s, the epochs so far ran with %s: the rest of the run will not "
                  "match an uninterrupted one bit for bit\n",
                  key, now.dump().c_str(), was.dump().c_str());
  }
}

int run(const ExperimentConfig& c) {
  if (c.threads > 0) omp_set_num_threads(c.threads);
  nlohmann::json config = to_json(c);
  config["environment"] = environment_info();
  std::printf("nc-experiment  seed %llu\n%s\n", static_cast<unsigned long long>(c.seed), config.dump(2).c_str());
  std::fflush(stdout);

  const Device device = Device::parse(c.device);
  LoadOptions load;
  load.train_per_class = c.per_class;
  load.seed = c.seed;
  if (c.image_size > 0) {
    const ResizeCropSides sides = imagenet_resize_crop(c.image_size);
    load.image_prep = {sides.resize_shorter, sides.crop};
  }
  LoadedDataset data = load_dataset(c.dataset, c.data_root, load);
  std::shared_ptr<const Dataset> test = data.test;
  if (c.test_per_class > 0) test = first_per_class(test, c.test_per_class);
  std::printf("data: %s, %lld train / %lld test images, %lld classes, %lldx%lldx%lld\n", c.dataset.c_str(),
              static_cast<long long>(data.train->size()), static_cast<long long>(test->size()),
              static_cast<long long>(data.info.num_classes), static_cast<long long>(data.info.image.channels),
              static_cast<long long>(data.info.image.height), static_cast<long long>(data.info.image.width));

  report_class_counts(data.train_class_counts, config);

  Generator init_gen = derived_generator(c.seed, /*stream=*/1);
  ModelConfig mc{c.arch, c.depth, c.width, data.info.image.channels, data.info.image.height, data.info.num_classes,
                 c.growth_rate};
  NetworkPtr model = build_model(mc, init_gen);
  model->to(device);
  std::printf("model: %s%d width %g, %lld parameters\n", c.arch.c_str(), c.depth, c.width,
              static_cast<long long>(model->parameter_count()));

  // The data and the model are built before anything is written, so a bad dataset folder or depth leaves
  // no run folder behind.
  RunFolder folder(c.out);
  if (c.resume) warn_if_arithmetic_changed(folder, config);
  folder.write_json("config.json", config);

  SGD sgd(model->parameters(), {c.lr, c.momentum, c.weight_decay, false});
  TrainerOptions topts;
  topts.epochs = c.epochs;
  topts.quiet = c.quiet;
  topts.device = device;
  Trainer trainer(*model, sgd, MultiStepLR(c.lr, c.lr_milestones), topts);
  TerminalPhaseTracker tpt(c.tpt_accuracy);

  LoaderOptions train_opts;
  train_opts.batch_size = c.batch_size;
  train_opts.prefetch = true;
  train_opts.seed = derived_generator(c.seed, /*stream=*/2).next_u64();
  DataLoader train_loader(data.train, train_opts);
  DataLoader train_eval(data.train, LoaderOptions::evaluation(256, true));
  DataLoader test_eval(test, LoaderOptions::evaluation(256, true));

  int start_epoch = 0;
  if (c.resume) {
    if (auto ckpt = latest_checkpoint(folder.checkpoints())) {
      CheckpointState st = load_checkpoint(*ckpt, *model, sgd);
      start_epoch = st.epoch;
      tpt.restore(st.tpt_onset, st.first_zero_error);
      folder.truncate_metrics(start_epoch);
      std::printf("resumed from %s (epoch %d)\n", ckpt->c_str(), start_epoch);
    } else {
      std::printf("--resume: no checkpoint in %s, starting from scratch\n", folder.checkpoints().c_str());
    }
  }
  if (start_epoch == 0) folder.truncate_metrics(-1);

  const auto t0 = std::chrono::steady_clock::now();
  auto measure = [&](int epoch, double lr) {
    nc::AnalysisOptions ao;
    ao.device = device;
    ao.weight_decay_term = nc::weight_decay_term(*model, c.weight_decay);
    if (c.export_features) ao.export_dir = folder.file("features/epoch-" + std::to_string(epoch));
    nc::CollapseMetrics m = nc::analyze_model(*model, train_eval, &test_eval, ao);
    tpt.observe(epoch, m.train_error);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json line = measurement_line(epoch, lr, m, wall);
    nc::MeasurementContext ctx{*model, train_eval, &test_eval, device, epoch, c.seed, m};
    for (const auto& name : c.measurements) {
      COLLAPSE_CHECK(!line.contains(name), "measurement '", name, "' would overwrite the metric of the same name");
      line[name] = nc::find_measurement(name).fn(ctx);
    }
    line["in_terminal_phase"] = tpt.in_terminal_phase();
    // A late loss spike that brings training error back is an event, said when it happens (summary.h).
    const bool interrupted = tpt.interrupted_by(epoch, m.train_error);
    line["tpt_interrupted"] = interrupted;
    if (interrupted)
      std::printf("warning: epoch %d: the terminal phase is interrupted: train error %.4g (TPT began at epoch %d); "
                  "recorded in summary.json as tpt_interruptions\n",
                  epoch, m.train_error, *tpt.onset_epoch());
    folder.append_metrics(line);
    if (!c.quiet) print_measurement(epoch, m);
    save_checkpoint(folder.checkpoints(), *model, sgd,
                    {epoch, tpt.onset_epoch(), tpt.first_zero_error_epoch(), {}}, c.keep_checkpoints);
    folder.write_json("summary.json", make_summary(folder.read_metrics(), tpt, c, data.train_class_counts));
  };
  auto is_measured = [&](int e) { return std::binary_search(c.measure_epochs.begin(), c.measure_epochs.end(), e); };

  if (start_epoch == 0 && is_measured(0)) measure(0, c.lr);
  for (int epoch = start_epoch + 1; epoch <= c.epochs; ++epoch) {
    // The second trained epoch when there is one: the first also pays one-time setup (primitive creation).
    const bool profiling = c.profile && epoch == std::min(start_epoch + 2, c.epochs);
    if (profiling) {
      profile::reset();
      profile::enable(true);
    }
    EpochResult r = trainer.train_epoch(epoch, train_loader);
    if (profiling) {
      profile::enable(false);
      const int steps = static_cast<int>(std::max<int64_t>(1, r.images / c.batch_size));
      std::printf("epoch %d, %d training steps: ", epoch, steps);
      profile::print_report(stdout, profile::snapshot(), steps, 1000.0 * r.seconds / steps);
    }
    if (is_measured(epoch)) measure(epoch, r.lr);
  }

  const auto lines = folder.read_metrics();
  const nlohmann::json summary = make_summary(lines, tpt, c, data.train_class_counts);
  folder.write_json("summary.json", summary);
  // The final last-layer geometry itself (Fig. 1 of the paper): the cosine matrices NC2 summarises.
  nlohmann::json geometry = nc::class_geometry(*model, train_eval, device);
  geometry["epoch"] = c.epochs;
  folder.write_json("geometry.json", geometry);
  std::printf("\nsummary: TPT onset epoch %s, first zero-error epoch %s, final test error %s, NC1 %s\n",
              summary["tpt_onset_epoch"].dump().c_str(), summary["first_zero_error_epoch"].dump().c_str(),
              lines.empty() ? "-" : lines.back()["test_error"].dump().c_str(),
              lines.empty() ? "-" : lines.back()["nc1"].dump().c_str());
  if (summary.contains("terminal_phase")) print_terminal_phase(summary["terminal_phase"]);

  const fs::path plot_script = fs::path(COLLAPSE_SOURCE_DIR) / "experiments" / "plot_nc.py";
  const std::string py = find_python_with("matplotlib");
  if (py.empty()) {
    std::printf("plots: skipped (no Python with matplotlib; install python3-matplotlib and run %s %s)\n",
                plot_script.c_str(), c.out.c_str());
  } else {
    const std::string cmd = py + " " + plot_script.string() + " " + c.out;
    std::printf("plots: %s\n", std::system(cmd.c_str()) == 0 ? (c.out + "/plots/").c_str() : "plotting failed");
  }
  std::printf("results: %s/\n", c.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nc-experiment: train past zero error and measure Neural Collapse (Papyan, Han & Donoho 2020)"};
  ExperimentConfig config;
  try {
    config = parse_args(argc, argv, app);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nc-experiment: %s\n", e.what());
    return 2;
  }
  try {
    return run(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nc-experiment: error: %s\n", e.what());
    return 1;
  }
}
