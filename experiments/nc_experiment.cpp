// nc-experiment: one run of the Neural Collapse protocol (Papyan, Han & Donoho 2020): train with SGD
// past zero training error, measure every NC quantity at log-spaced epochs, write a run folder with
// config.json, metrics.jsonl, summary.json, checkpoints/ and plots/. Restarted with the same command and
// --resume, a killed run continues from its last checkpoint.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <set>
#include <sstream>

#include "backends/device_query.h"
#include "core/busy_cpu_watch.h"
#include "core/openmp_policy.h"
#include "core/profiler.h"
#include "data/registry.h"
#include "data/subset_dataset.h"
#include "distributed/agreement.h"
#include "distributed/nccl_communicator.h"
#include "experiments/support/memory_check.h"
#include "experiments/support/phase_clock.h"
#include "experiments/support/protocol.h"
#include "experiments/support/provenance.h"
#include "experiments/support/resume_config.h"
#include "experiments/support/run_folder.h"
#include "experiments/support/stop_signals.h"
#include "layers/fixed_etf_classifier.h"
#include "experiments/support/summary.h"
#include "nc/class_geometry.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"
#include "nc/npy.h"
#include "train/data_parallel.h"
#include "train/trainer.h"

using namespace collapse;
using namespace collapse::experiment;
namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") ==
                           std::string::npos)
    return word;
  std::string quoted = "'";
  for (char ch : word) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return quoted + "'";
}

// This command line with --resume (and without --overwrite): what continues the run after a stop.
std::string resume_command(int argc, char** argv) {
  std::string command;
  bool has_resume = false;
  for (int i = 0; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--overwrite") continue;
    has_resume |= word == "--resume";
    command += (command.empty() ? "" : " ") + shell_quote(word);
  }
  return has_resume ? command : command + " --resume";
}

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

// CLI11 reads an unsigned value with strtoull, which takes "-1" as 2^64 - 1 and "010" as octal 8.
const CLI::Validator kDecimalUnsigned(
    [](std::string& text) -> std::string {
      const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
      return digits && (text.size() == 1 || text[0] != '0') ? "" : "'" + text + "' is not a decimal integer >= 0";
    },
    "UINT", "decimal unsigned integer");

// --resume: the run's own settings (experiments/support/resume_config.h), checked before any work.
void merge_run_config(const CLI::App& app, ExperimentConfig& c) {
  ExperimentConfig probe = c;
  resolve_defaults(probe);  // the default --out depends on the dataset, family, depth, width and seed
  c.out = probe.out;
  const std::string file = c.out + "/config.json";
  COLLAPSE_CHECK(RunFolder::holds_run(c.out), "--resume: ", c.out, " holds no run (no config.json); leave out "
                 "--resume to start one");
  std::set<std::string> given;
  for (const CLI::Option* option : app.get_options())
    if (option->count() > 0) given.insert(option->get_name());
  merge_saved_config(c, given, read_config_file(file), file);
}

// `read_run_folder`: false on ranks other than 0, which take the resumed settings from rank 0 instead.
ExperimentConfig parse_args(int argc, char** argv, CLI::App& app, bool read_run_folder) {
  ExperimentConfig c;
  std::string milestones, measure, extra;
  app.add_option("--dataset", c.dataset, "mnist, fashion-mnist, kmnist, svhn, cifar10, cifar100, stl10, imagenet")
      ->capture_default_str();
  if (const char* env = std::getenv("COLLAPSE_DATA"); env && *env) c.data_root = env;
  app.add_option("--data-root", c.data_root, "folder holding one sub-folder per dataset (default: $COLLAPSE_DATA, "
                 "else ./data; scripts/download-datasets --root DIR fills one)")
      ->capture_default_str();
  app.add_option("--arch", c.arch, "model family: vgg, resnet, densenet, or a registered one")->capture_default_str();
  app.add_option("--depth", c.depth, "depth (default: the paper's for the dataset)");
  app.add_option("--width", c.width, "channel multiplier (1 = the published widths)")
      ->check(CLI::Range(1.0 / 64, 16.0))
      ->capture_default_str();
  app.add_option("--growth-rate", c.growth_rate, "densenet: growth rate k before --width (default 12 for "
                 "DenseNet-BC 40/100/250, 32 for 121/169/201; Huang et al.'s BC-250 used 24)");
  app.add_option("--per-class", c.per_class, "training images per class (default: the paper's; 0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-per-class", c.test_per_class, "test images per class (0 = the whole test set)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--image-size", c.image_size, "imagenet: centre-crop side in pixels (default 224; the shorter side "
                 "is resized to side*256/224 first)");
  app.add_option("--epochs", c.epochs, "training epochs (default: the paper's, 350; ImageNet 300)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--lr", c.lr, "initial learning rate")->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "coupled weight decay (default 5e-4, ImageNet 1e-4)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-size", c.batch_size, "batch size (default 128, ImageNet 256)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--lr-milestones", milestones, "epochs after which lr /= 10, e.g. 116,233 (default E/3,2E/3)");
  app.add_option("--measure-epochs", measure, "epochs to measure at, e.g. 0,1,5,10 (default: log-like list)");
  app.add_option("--measure", extra, "extra measurements at each measured epoch, comma-separated, or 'none' "
                 "(default: those on by default; see --list)");
  app.add_option("--seed", c.seed, "seed of everything random, in [0, 2^64)")
      ->check(kDecimalUnsigned)
      ->capture_default_str();
  app.add_option("--threads", c.threads, "OpenMP threads (0 = the CPUs this process may use: affinity mask and cgroup quota, or OMP_NUM_THREADS)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--device", c.device, "cpu or cuda")->capture_default_str();
  app.add_option("--out", c.out, "run folder (default runs/<dataset>-<arch><depth>-w<width>-s<seed>)");
  auto* resume = app.add_flag("--resume", c.resume, "continue the run in --out from its last valid checkpoint, with "
                              "its config.json's settings");
  app.add_flag("--overwrite", c.overwrite, "delete the run in --out (its files only) and start again")->excludes(resume);
  app.add_flag("--export-features", c.export_features, "write features/labels/logits/weights .npy at each measurement");
  app.add_flag("--keep-checkpoints", c.keep_checkpoints, "keep every checkpoint, not only the last two");
  app.add_option("--checkpoint-every", c.checkpoint_every, "also checkpoint every N epochs between measurements "
                 "(default 0: whenever 5 minutes have passed since the last checkpoint)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--quiet", c.quiet, "no per-epoch progress lines");
  app.add_option("--loss", c.loss, "training loss: ce (the paper's), label-smoothing, focal or mse")
      ->check(CLI::IsMember({"ce", "label-smoothing", "focal", "mse"}))
      ->capture_default_str();
  app.add_option("--label-smoothing", c.label_smoothing, "label-smoothing: weight α of the uniform target, in [0, 1)")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str();
  app.add_option("--focal-gamma", c.focal_gamma, "focal: exponent γ >= 0")->check(CLI::Range(0.0, 100.0))->capture_default_str();
  app.add_option("--mse-target", c.mse_target, "mse: value κ > 0 of the true class's target (1: one-hot)")
      ->check(CLI::Range(1e-6, 1e6))
      ->capture_default_str();
  app.add_flag("--fixed-etf-classifier", c.fixed_etf_classifier, "fix the last layer to a simplex ETF (bias 0) and "
               "do not train it (Zhu et al. 2021); needs feature dimension >= classes - 1");
  app.add_option("--imbalance", c.imbalance_ratio, "long-tailed training set: the largest class has R times the "
                 "smallest (1: balanced; --per-class is the largest class's count)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--imbalance-profile", c.imbalance_profile, "exp (Cao et al. 2019) or step (half the classes "
                 "minority, Fang et al. 2021)")
      ->check(CLI::IsMember({"exp", "step"}))
      ->capture_default_str();
  app.add_flag("--sync-bn", c.sync_bn, "under mpirun: batch-norm statistics over the global batch (all ranks), "
               "so K ranks compute what one process does; default: each rank's own slice, as PyTorch's DDP");
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
  if (!measure.empty()) {  // sorted and deduplicated now, so --resume compares it with config.json's as resolved
    c.measure_epochs = parse_list<int>("--measure-epochs", measure);
    std::sort(c.measure_epochs.begin(), c.measure_epochs.end());
    c.measure_epochs.erase(std::unique(c.measure_epochs.begin(), c.measure_epochs.end()), c.measure_epochs.end());
  }
  if (!extra.empty()) {
    c.measurements_given = true;
    std::stringstream ss(extra);
    for (std::string name; std::getline(ss, name, ',');)
      if (name != "none" && !name.empty()) c.measurements.push_back(name);
  }
  if (c.resume && read_run_folder) merge_run_config(app, c);
  resolve_defaults(c);
  // The family and depth, checked now rather than after the data has loaded (ImageNet's takes minutes): the
  // same family and depth at width 1/64 on 32x32 inputs builds in milliseconds and fails as the real one would.
  Generator probe_gen(0);
  build_model(ModelConfig{c.arch, c.depth, 1.0 / 64, 3, 32, 10, c.growth_rate}, probe_gen);
  check_model_fits_memory(c);
  // Here, not when the first tensor moves: without this the user reads a CUDA driver-version message.
  if (Device::parse(c.device).is_cuda() && Device::parse(c.device).index >= cuda_device_count())
    COLLAPSE_FAIL("--device ", c.device, ": no CUDA device found (", cuda_device_count(),
                  " visible: no GPU, no driver, or a build without CUDA); use --device cpu");
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
  if (*fewest != *most && config.value("imbalance_ratio", 1.0) == 1.0)
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
void warn_if_arithmetic_changed(const nlohmann::json& before, const nlohmann::json& config) {
  if (!before.contains("environment") || !before["environment"].is_object()) return;
  for (const char* key :
       {"collapse_git_commit", "onednn", "onednn_cpu_isa", "omp_max_threads", "cpu_conv_winograd", "ranks"}) {
    nlohmann::json was = before["environment"].value(key, nlohmann::json());
    if (std::string(key) == "ranks" && was.is_null()) was = 1;  // runs from before data parallelism
    const nlohmann::json& now = config["environment"][key];
    if (was != now)
      std::printf("warning: --resume with %s = %s, the epochs so far ran with %s: the rest of the run will not "
                  "match an uninterrupted one bit for bit\n",
                  key, now.dump().c_str(), was.dump().c_str());
  }
}

// A NaN or infinity in the loss, a parameter or a feature ends the run: the error is said, summary.json
// says "diverged" and why, and no checkpoint holds the diverged weights (the newest one is the last good
// state). Exit status 3, distinct from a bad input (1) or a usage error (2).
int report_divergence(const RunFolder& folder, nlohmann::json summary, const NonFiniteError& e) {
  summary["status"] = "diverged";
  summary["diverged"] = e.what();
  folder.write_json("summary.json", summary);
  std::fprintf(stderr,
               "nc-experiment: error: %s\nthe run stopped: summary.json says \"diverged\"; no checkpoint holds the "
               "diverged weights (a lower --lr usually helps)\n",
               e.what());
  return 3;
}

// Loads the newest checkpoint that verifies and returns its state (epoch 0 when there is none yet). A run
// whose measurements went further than any checkpoint lost its checkpoints: that is an error, not a
// silent restart that would rewrite metrics.jsonl.
CheckpointState resume_from_checkpoint(const RunFolder& folder, Network& model, SGD& sgd, TerminalPhaseTracker& tpt,
                                       int epochs) {
  const auto lines = folder.read_metrics();
  const int measured = lines.empty() ? -1 : lines.back().value("epoch", -1);
  const auto loaded = load_latest_valid_checkpoint(folder.checkpoints(), model, sgd);
  if (!loaded) {
    COLLAPSE_CHECK(measured <= 0, "--resume: ", folder.file("metrics.jsonl"), " has measurements up to epoch ",
                   measured, " but ", folder.checkpoints(), " holds no complete checkpoint; restore it, or start "
                   "again with --overwrite");
    std::printf("--resume: no checkpoint yet in %s, starting from epoch 0\n", folder.checkpoints().c_str());
    return {};
  }
  const CheckpointState& st = loaded->state;
  COLLAPSE_CHECK(st.epoch <= epochs, loaded->dir, ": epoch ", st.epoch, " is beyond the run's ", epochs, " epochs");
  COLLAPSE_CHECK(st.step == 0 || st.epoch < epochs, loaded->dir, ": a stop inside epoch ", st.epoch + 1,
                 " of a ", epochs, "-epoch run");
  tpt.restore(st.tpt_onset, st.first_zero_error);
  if (st.step == 0) std::printf("resumed from %s (epoch %d)\n", loaded->dir.c_str(), st.epoch);
  else std::printf("resumed from %s (epoch %d, step %lld)\n", loaded->dir.c_str(), st.epoch + 1,
                   static_cast<long long>(st.step));
  return st;
}

// The run's config.json as it was, with this resume appended to "resumes" (what it ran with: threads,
// device, machine), after warning about anything that changes the arithmetic.
nlohmann::json with_resume_record(const RunFolder& folder, const nlohmann::json& now, int from_epoch) {
  nlohmann::json saved = read_config_file(folder.file("config.json"));
  const bool resumed_before = saved.contains("resumes") && saved["resumes"].is_array() && !saved["resumes"].empty();
  warn_if_arithmetic_changed(resumed_before ? saved["resumes"].back() : saved, now);
  nlohmann::json record = {{"from_epoch", from_epoch}, {"threads", now["threads"]}, {"device", now["device"]},
                           {"data_root", now["data_root"]}, {"environment", now["environment"]}};
  if (!saved.contains("resumes") || !saved["resumes"].is_array()) saved["resumes"] = nlohmann::json::array();
  saved["resumes"].push_back(record);
  return saved;
}

// What a replay in another framework needs besides config.json (benchmarks/whole_run.py does one): the
// initial weights, and which training examples were kept (when an image folder dropped unreadable files
// after the draw, the indices no longer name the examples one to one, and are left out).
void write_starting_point(const RunFolder& folder, const LoadedDataset& data, Module& model) {
  save_safetensors(folder.file("initial_model.safetensors"), model.state_dict(), {{"format", "pt"}});
  const auto n = static_cast<int64_t>(data.train_indices.size());
  if (n == data.train->size()) nc::write_npy(folder.file("train_indices.npy"), data.train_indices, {n});
}

// After SIGINT/SIGTERM: the checkpoint is written; says where and how to continue. Exit 128 + signal
// (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a process the signal ended.
int report_stop(const RunFolder& folder, const std::string& resume_command, int epoch, int64_t step) {
  const int signal = stop_signal().load();
  std::printf("\nstopped by signal %d %s epoch %d%s; checkpoint in %s\nresume with:\n  %s\n", signal,
              step > 0 ? "inside" : "after", epoch, step > 0 ? (" at step " + std::to_string(step)).c_str() : "",
              folder.checkpoints().c_str(), resume_command.c_str());
  std::fflush(stdout);
  return 128 + signal;
}

// The GPU of this rank: with several ranks on a machine, its local rank modulo the GPUs there.
Device device_for_rank(const ExperimentConfig& c, const distributed::Communicator& world) {
  Device device = Device::parse(c.device);
  if (device.is_cuda() && world.size() > 1 && c.device == "cuda")
    device.index = distributed::local_rank() % std::max(1, cuda_device_count());
  return device;
}

// What config.json says about the ranks (and, in "environment", what changes the arithmetic: their number).
nlohmann::json distributed_info(const ExperimentConfig& c, const distributed::Communicator& world,
                                const distributed::Communicator& gradients) {
  const int K = world.size();
  return {{"ranks", K},
          {"backend", world.backend()},
          {"gradient_backend", gradients.backend()},
          {"sync_bn", c.sync_bn},
          {"batch_per_rank", K == 1 ? nlohmann::json(c.batch_size)
                                    : nlohmann::json(std::to_string(c.batch_size / K) + "-" +
                                                     std::to_string((c.batch_size + K - 1) / K))},
          {"threads_per_rank", c.threads}};
}

int run(const ExperimentConfig& c, const std::string& resume_command, distributed::Communicator& world) {
  PhaseClock clock;
  use_openmp_threads(c.threads);
  const bool root = world.is_root(), parallel = world.size() > 1;
  const Device device = device_for_rank(c, world);
  // NCCL carries gradients that live on GPUs; everything else (scalars, statistics, state) goes through MPI.
  std::unique_ptr<distributed::Communicator> nccl;
  if (parallel && device.is_cuda()) nccl = distributed::nccl_communicator(world, device.index);
  distributed::Communicator& gradient_comm = nccl ? *nccl : world;

  nlohmann::json config = to_json(c);
  config["environment"] = environment_info();
  config["environment"]["ranks"] = world.size();
  config["distributed"] = distributed_info(c, world, gradient_comm);
  std::printf("nc-experiment  seed %llu\n%s\n", static_cast<unsigned long long>(c.seed), config.dump(2).c_str());
  if (c.sync_bn && !parallel) std::printf("note: --sync-bn changes nothing in a single process\n");
  std::fflush(stdout);

  // Locked before any work, so a second process on this folder stops at once; nothing is written in it
  // until the data, the model and (on --resume) the checkpoint have loaded. Only rank 0 has the folder.
  std::optional<RunFolder> folder;
  if (root) folder.emplace(c.out, c.resume ? FolderUse::resume : c.overwrite ? FolderUse::overwrite : FolderUse::fresh);
  world.barrier();

  LoadOptions load;
  load.train_per_class = c.per_class;
  load.seed = c.seed;
  load.imbalance_ratio = c.imbalance_ratio;
  load.imbalance_profile = c.imbalance_profile;
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
  config["data"] = data_provenance(dataset_info(c.dataset), c.data_root, data.stats);
  // Large JPEGs decoded at a reduced scale (data/image_decode.h): their pixels differ from a full decode.
  if (c.dataset == "imagenet") config["data"]["jpeg_dct_scaling"] = load.image_prep.dct_scaling;

  Generator init_gen = derived_generator(c.seed, /*stream=*/1);
  ModelConfig mc{c.arch, c.depth, c.width, data.info.image.channels, data.info.image.height, data.info.num_classes,
                 c.growth_rate};
  NetworkPtr model = build_model(mc, init_gen);
  if (c.fixed_etf_classifier) {
    Generator etf_gen = derived_generator(c.seed, /*stream=*/4);
    fix_to_simplex_etf(model->classifier(), etf_gen);
  }
  model->to(device);
  std::printf("model: %s%d width %g, %lld parameters\n", c.arch.c_str(), c.depth, c.width,
              static_cast<long long>(model->parameter_count()));
  if (parallel) {
    std::printf("data parallel: %d ranks (%s; gradients via %s), global batch %lld, %s batch norm\n", world.size(),
                world.backend().c_str(), gradient_comm.backend().c_str(), static_cast<long long>(c.batch_size),
                c.sync_bn ? "synchronised" : "per-rank");
    if (c.sync_bn) synchronize_batch_norm(*model, distributed::replica_sum(world));
  }

  SGD sgd(model->parameters(), {c.lr, c.momentum, c.weight_decay, false});
  TrainerOptions topts;
  topts.epochs = c.epochs;
  topts.quiet = c.quiet;
  topts.device = device;
  topts.stop = &stop_signal();
  topts.loss = loss_spec(c);
  topts.comm = &world;
  topts.gradient_comm = &gradient_comm;
  Trainer trainer(*model, sgd, MultiStepLR(c.lr, c.lr_milestones), topts);
  TerminalPhaseTracker tpt(c.tpt_accuracy);

  // Each rank trains on, and measures, its slice of every global batch (data/data_loader.h).
  LoaderOptions train_opts;
  train_opts.batch_size = c.batch_size;
  train_opts.prefetch = true;
  train_opts.seed = derived_generator(c.seed, /*stream=*/2).next_u64();
  DataLoader train_loader(data.train, train_opts.sharded(world.rank(), world.size()));
  DataLoader train_eval(data.train, LoaderOptions::evaluation(256, true).sharded(world.rank(), world.size()));
  DataLoader test_eval(test, LoaderOptions::evaluation(256, true).sharded(world.rank(), world.size()));
  // The extra measurements and the final geometry run on rank 0 alone, over the whole sets.
  std::unique_ptr<DataLoader> whole_train, whole_test;
  if (parallel && root) {
    whole_train = std::make_unique<DataLoader>(data.train, LoaderOptions::evaluation(256, true));
    whole_test = std::make_unique<DataLoader>(test, LoaderOptions::evaluation(256, true));
  }
  DataLoader& full_train_eval = whole_train ? *whole_train : train_eval;
  DataLoader& full_test_eval = whole_test ? *whole_test : test_eval;

  int start_epoch = 0;
  int64_t start_step = 0;  // batches of epoch start_epoch + 1 trained before a stop
  if (c.resume && root) {
    const CheckpointState resumed = resume_from_checkpoint(*folder, *model, sgd, tpt, c.epochs);
    start_epoch = resumed.epoch, start_step = resumed.step;
    config = with_resume_record(*folder, config, start_epoch);
  }
  if (parallel) {
    // One model on every rank: rank 0's initialisation or checkpoint, and its place in the schedule.
    broadcast_training_state(*model, &sgd, world);
    int64_t position[4] = {start_epoch, start_step, tpt.onset_epoch().value_or(-1),
                           tpt.first_zero_error_epoch().value_or(-1)};
    world.broadcast(position, sizeof position, 0);
    start_epoch = static_cast<int>(position[0]), start_step = position[1];
    auto optional_epoch = [](int64_t e) { return e < 0 ? std::nullopt : std::optional<int>(static_cast<int>(e)); };
    tpt.restore(optional_epoch(position[2]), optional_epoch(position[3]));
  }
  // A fresh start (or a resume before anything was checkpointed) measures epoch 0 again; a resume keeps
  // the measurements up to its checkpoint, even one taken inside epoch 1.
  const bool fresh_start = start_epoch == 0 && start_step == 0;
  if (root) {
    folder->write_json("config.json", config);
    folder->truncate_metrics(fresh_start ? -1 : start_epoch);
    if (fresh_start) write_starting_point(*folder, data, *model);
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto last_checkpoint = t0;
  // Rank 0 writes; the others wait for it without spinning (distributed::Communicator::barrier).
  auto checkpoint = [&](int epoch, int64_t step) {
    const auto span = clock.span("checkpoints");
    if (root)
      save_checkpoint(folder->checkpoints(), *model, sgd,
                      {epoch, tpt.onset_epoch(), tpt.first_zero_error_epoch(), {}, step}, c.keep_checkpoints);
    world.barrier();
    last_checkpoint = std::chrono::steady_clock::now();
  };
  // Between measurements: every --checkpoint-every epochs, or (0) when 5 minutes have passed since the last
  // (on rank 0's clock).
  auto checkpoint_due = [&](int epoch) {
    if (c.checkpoint_every > 0) return epoch % c.checkpoint_every == 0;
    return distributed::decided_by_root(world, std::chrono::steady_clock::now() - last_checkpoint > std::chrono::minutes(5));
  };
  // The training set's class means of the latest measurement, and its epoch: the final geometry reuses them.
  std::shared_ptr<const nc::ClassMeans> measured_means;
  int measured_means_epoch = -1;
  auto measure = [&](int epoch, double lr) {
    nc::AnalysisOptions ao;
    ao.device = device;
    ao.class_means_out = &measured_means;
    measured_means_epoch = epoch;
    ao.weight_decay_term = nc::weight_decay_term(*model, c.weight_decay);
    if (c.export_features) ao.export_dir = folder->file("features/epoch-" + std::to_string(epoch));
    nc::CollapseMetrics m;
    if (parallel) {
      broadcast_buffers(*model, world);  // rank 0's batch-norm statistics for every rank's share
      ao.sum_across_replicas = distributed::replica_sum(world);
    }
    try {
      const auto span = clock.span("analysis");
      m = nc::analyze_model(*model, train_eval, &test_eval, ao);
    } catch (const NonFiniteError& e) {
      const std::string what = detail::concat("training diverged by epoch ", epoch, ": ", e.what());
      // Only this rank's share saw it: the others are inside the analysis' sums and would wait for ever.
      if (parallel) {
        std::fprintf(stderr, "nc-experiment: rank %d: error: %s\n", world.rank(), what.c_str());
        world.abort(3);
      }
      throw NonFiniteError(what);
    }
    tpt.observe(epoch, m.train_error);
    if (root) {
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::json line = measurement_line(epoch, lr, m, wall);
      nc::MeasurementContext ctx{*model, full_train_eval, &full_test_eval, device, epoch, c.seed, m, c.mse_target,
                                 c.weight_decay};
      const auto span = clock.span("extra measurements");
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
      folder->append_metrics(line);
      if (!c.quiet) print_measurement(epoch, m);
    }
    checkpoint(epoch, 0);
    if (root) {
      const auto span = clock.span("result files");
      nlohmann::json summary = make_summary(folder->read_metrics(), tpt, c, data.train_class_counts);
      summary["status"] = "running";
      folder->write_json("summary.json", summary);
    }
  };
  auto is_measured = [&](int e) { return std::binary_search(c.measure_epochs.begin(), c.measure_epochs.end(), e); };
  auto stop_requested = [&] { return distributed::any_rank(world, stop_signal().load() != 0); };
  auto stopped = [&](int epoch, int64_t step) {
    const std::string again = parallel ? detail::concat("mpirun -np ", world.size(), " ", resume_command) : resume_command;
    return root ? report_stop(*folder, again, epoch, step) : 128 + stop_signal().load();
  };

  const int first_decay = c.lr_milestones.empty() ? c.epochs : *std::min_element(c.lr_milestones.begin(),
                                                                                   c.lr_milestones.end());
  try {
    if (fresh_start && is_measured(0)) measure(0, c.lr);
    for (int epoch = start_epoch + 1; epoch <= c.epochs; ++epoch) {
      if (epoch == first_decay + 1 && !tpt.in_terminal_phase())
        std::printf("warning: epoch %d: the learning rate decays before the terminal phase began (no measured epoch "
                    "reached train accuracy %.4g): the collapse happens mostly at the initial rate, so this run's "
                    "terminal phase will say little (summary.json: lr_decayed_before_tpt); give more epochs or later "
                    "--lr-milestones\n",
                    epoch, c.tpt_accuracy);
      // The second trained epoch when there is one: the first also pays one-time setup (primitive creation).
      const bool profiling = c.profile && epoch == std::min(start_epoch + 2, c.epochs);
      if (profiling) {
        profile::reset();
        profile::enable(true);
      }
      EpochResult r = [&] {
        const auto span = clock.span("training");
        return trainer.train_epoch(epoch, train_loader, epoch == start_epoch + 1 ? start_step : 0);
      }();
      if (profiling) {
        profile::enable(false);
        const int steps = static_cast<int>(std::max<int64_t>(1, r.images / c.batch_size));
        std::printf("epoch %d, %d training steps: ", epoch, steps);
        profile::print_report(stdout, profile::snapshot(), steps, 1000.0 * r.seconds / steps);
      }
      if (r.stopped) {
        checkpoint(epoch - 1, r.steps_done);
        return stopped(epoch, r.steps_done);
      }
      const bool stop = stop_requested();
      if (is_measured(epoch)) measure(epoch, r.lr);
      else if (checkpoint_due(epoch) || stop) checkpoint(epoch, 0);
      if (stop) return stopped(epoch, 0);
    }
  } catch (const NonFiniteError& e) {
    // The loss and the parameters are the same on every rank: every rank stops here, rank 0 says why.
    if (!root) return 3;
    return report_divergence(*folder, make_summary(folder->read_metrics(), tpt, c, data.train_class_counts), e);
  }
  if (parallel) std::printf("data parallel: %.1f s waiting for gradient all-reduces that backward did not hide\n",
                            trainer.gradient_wait_seconds());
  if (!root) return 0;

  const auto lines = folder->read_metrics();
  nlohmann::json summary = make_summary(lines, tpt, c, data.train_class_counts);
  summary["status"] = "finished";
  folder->write_json("summary.json", summary);
  // The final last-layer geometry itself (Fig. 1 of the paper): the cosine matrices NC2 summarises.
  nlohmann::json geometry = [&] {
    const auto span = clock.span("final geometry");
    // The last epoch's measurement already has these weights' class means (the default epochs always
    // measure it); otherwise one more pass over the training set.
    if (measured_means && measured_means_epoch == c.epochs) return nc::class_geometry(*model, *measured_means);
    return nc::class_geometry(*model, full_train_eval, device);
  }();
  geometry["epoch"] = c.epochs;
  folder->write_json("geometry.json", geometry);
  std::printf("\nsummary: TPT onset epoch %s, first zero-error epoch %s, final test error %s, NC1 %s\n",
              summary["tpt_onset_epoch"].dump().c_str(), summary["first_zero_error_epoch"].dump().c_str(),
              lines.empty() ? "-" : lines.back()["test_error"].dump().c_str(),
              lines.empty() ? "-" : lines.back()["nc1"].dump().c_str());
  if (summary.contains("terminal_phase")) print_terminal_phase(summary["terminal_phase"]);

  // Before plotting: the plotting program would count as another program taking the CPUs.
  if (const BusyCpuWatchStats watch = busy_cpu_watch_stats(); watch.running) {
    summary["omp_short_waits_seconds"] = watch.seconds_engaged;
    if (watch.times_engaged > 0)
      std::printf("busy machine: OpenMP threads waited briefly for %.1f s, other programs taking the CPUs "
                  "(%lld time%s; core/busy_cpu_watch.h)\n",
                  watch.seconds_engaged, static_cast<long long>(watch.times_engaged),
                  watch.times_engaged > 1 ? "s" : "");
  }
  const fs::path plot_script = fs::path(COLLAPSE_SOURCE_DIR) / "experiments" / "plot_nc.py";
  const std::string py = find_python_with("matplotlib");
  if (py.empty()) {
    std::printf("plots: skipped (no Python with matplotlib; install python3-matplotlib and run %s %s)\n",
                plot_script.c_str(), c.out.c_str());
  } else {
    const std::string cmd = py + " " + shell_quote(plot_script.string()) + " " + shell_quote(c.out);
    const auto span = clock.span("plots");
    std::printf("plots: %s\n", std::system(cmd.c_str()) == 0 ? (c.out + "/plots/").c_str() : "plotting failed");
  }
  summary["wall_seconds"] = clock.to_json();
  folder->write_json("summary.json", summary);
  std::string times;
  for (const char* phase : {"training", "analysis", "extra measurements", "checkpoints", "result files",
                            "final geometry", "plots", "other", "total"})
    if (summary["wall_seconds"].contains(phase))
      times += detail::concat(times.empty() ? "" : ", ", phase, " ", summary["wall_seconds"][phase].dump(), " s");
  std::printf("time: %s\n", times.c_str());
  std::printf("results: %s/\n", c.out.c_str());
  return 0;
}

// Settings every rank shares. Each rank parses the same command line (so usage errors are alike); on
// --resume only rank 0 reads the run's config.json, and the others take the merged settings from it.
// Returns the exit status when the program should end now (usage error, --help), else nullopt.
std::optional<int> agree_on_config(int argc, char** argv, distributed::Communicator& world, ExperimentConfig& c) {
  CLI::App app{"nc-experiment: train past zero error and measure Neural Collapse (Papyan, Han & Donoho 2020)"};
  int status = -1;  // -1: go on
  try {
    c = parse_args(argc, argv, app, world.is_root());
    if (world.size() > 1 && c.export_features)
      COLLAPSE_FAIL("--export-features writes whole feature matrices and needs a single process (run without mpirun)");
    if (world.size() > 1 && c.sync_bn && Device::parse(c.device).is_cuda())
      COLLAPSE_FAIL("--sync-bn runs on the CPU for now (its per-channel kernels have no CUDA version)");
  } catch (const CLI::ParseError& e) {
    status = world.is_root() ? (app.exit(e) == 0 ? 0 : 2) : (e.get_exit_code() == 0 ? 0 : 2);  // --help: 0
  } catch (const std::exception& e) {
    if (world.is_root()) std::fprintf(stderr, "nc-experiment: %s\n", e.what());
    status = 2;
  }
  if (world.size() == 1) return status < 0 ? std::nullopt : std::optional<int>(status);
  std::string shared = world.is_root() ? nlohmann::json({{"status", status}, {"config", status < 0 ? to_json(c) : nlohmann::json()}}).dump() : "";
  distributed::broadcast_text(world, shared);
  const nlohmann::json agreed = nlohmann::json::parse(shared);
  if (agreed["status"].get<int>() >= 0) return agreed["status"].get<int>();
  if (!world.is_root()) {
    // Rank 0's settings, with this process's own output-only flags (the same command line).
    ExperimentConfig mine = c;
    c = config_from_json(agreed["config"], "rank 0's settings");
    c.resume = mine.resume, c.overwrite = mine.overwrite, c.quiet = mine.quiet, c.profile = mine.profile;
    c.keep_checkpoints = mine.keep_checkpoints, c.checkpoint_every = mine.checkpoint_every;
    c.export_features = mine.export_features;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  adopt_openmp_wait_policy(argv);  // first: it may re-execute the program (core/openmp_policy.h)
  std::unique_ptr<distributed::Communicator> world;
  try {
    world = distributed::connect_world(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nc-experiment: error: %s\n", e.what());
    return 1;
  }
  // Only rank 0 speaks on stdout (every rank prints its own errors on stderr).
  if (!world->is_root() && !std::freopen("/dev/null", "w", stdout)) return 1;
  ExperimentConfig config;
  if (const std::optional<int> status = agree_on_config(argc, argv, *world, config)) return *status;
  install_stop_handlers();
  // An error on one rank of several ends them all (the others may be waiting for it in a collective).
  auto fail = [&](const char* what) {
    std::fprintf(stderr, "nc-experiment: %serror: %s\n",
                 world->size() > 1 ? ("rank " + std::to_string(world->rank()) + ": ").c_str() : "", what);
    if (world->size() > 1) world->abort(1);
    return 1;
  };
  try {
    return run(config, resume_command(argc, argv), *world);
  } catch (const std::bad_alloc&) {
    return fail("out of memory (a smaller --batch-size, --width or subset needs less)");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
