// bench-data: throughput of the data pipeline, in images per second.
//
// For MNIST and CIFAR-10 the pipeline has two stages: reading the official files into memory and
// normalising them once (decode + normalise), then batching every epoch (a memcpy per example into a
// channels-last batch). For ImageNet folders every batch decodes, resizes, crops and normalises its JPEGs.
// Batching is timed alone, then with a simulated training step of the same length as one batch's
// loading (a sleep, as when the GPU trains): without prefetch the two add up; with prefetch loading
// hides behind the step, so the ideal is twice the rate.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "data/channel_stats.h"
#include "data/data_loader.h"
#include "data/image_folder.h"
#include "data/image_folder_dataset.h"
#include "data/normalized_dataset.h"
#include "data/registry.h"

using namespace collapse;
namespace fs = std::filesystem;

namespace {

double seconds_of(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report(const std::string& dataset, const std::string& stage, int64_t images, double seconds) {
  std::printf("%-10s %-40s %8lld images %9.3f s %12.0f images/s\n", dataset.c_str(), stage.c_str(),
              static_cast<long long>(images), seconds, images / seconds);
}

// One epoch through the loader; with step_s > 0 each batch is followed by a sleep of that length.
int64_t run_epoch(DataLoader& loader, int64_t epoch, double step_s) {
  loader.start_epoch(epoch);
  Batch batch;
  int64_t images = 0;
  while (loader.next(batch)) {
    images += batch.size();
    if (step_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(step_s));
  }
  return images;
}

void bench_loader(const std::string& name, std::shared_ptr<const Dataset> ds, int64_t batch_size, int epochs) {
  DataLoader plain(ds, {.batch_size = batch_size, .seed = 1});
  DataLoader ahead(ds, {.batch_size = batch_size, .prefetch = true, .seed = 1});
  int64_t images = 0;
  const double alone = seconds_of([&] {
    for (int e = 0; e < epochs; ++e) images += run_epoch(plain, e, 0);
  });
  report(name, "batch (single thread)", images, alone);
  const double step = alone / static_cast<double>(epochs * plain.batches_per_epoch());
  for (DataLoader* loader : {&plain, &ahead}) {
    images = 0;
    const double t = seconds_of([&] {
      for (int e = 0; e < epochs; ++e) images += run_epoch(*loader, e, step);
    });
    report(name, loader == &plain ? "batch + equal-length step, no prefetch" : "batch + equal-length step, prefetch",
           images, t);
  }
}

void bench_in_memory(const std::string& name, const fs::path& root, int64_t batch_size, int epochs) {
  const DatasetInfo& info = dataset_info(name);
  RawDataset raw;
  const double read = seconds_of([&] { raw = read_raw_split(name, root, Split::train); });
  report(name, "read official files (decode)", raw.n, read);
  ChannelStats stats;
  std::shared_ptr<const Dataset> ds;
  const double norm = seconds_of([&] {
    stats = compute_channel_stats(raw);
    ds = std::make_shared<NormalizedDataset>(raw, stats, info.image);
  });
  report(name, "statistics + pad + normalise", raw.n, norm);
  report(name, "decode + normalise (one-time total)", raw.n, read + norm);
  bench_loader(name, ds, batch_size, epochs);
}

void bench_image_folder(const fs::path& dir, int64_t batch_size) {
  ImageFolderIndex index = index_image_folder(dir, Split::train);
  const ResizeCrop prep;
  ChannelStats stats;
  const double stats_s = seconds_of([&] { stats = image_folder_channel_stats(index, prep, false); });
  report("imagenet", "decode + resize + crop, all threads (stats)", static_cast<int64_t>(index.files.size()), stats_s);
  auto ds = std::make_shared<ImageFolderDataset>(index, stats, prep);
  bench_loader("imagenet", ds, batch_size, 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data pipeline throughput: MNIST, CIFAR-10 and an ImageNet folder"};
  const char* env = std::getenv("COLLAPSE_DATA");
  std::string root = env && *env ? env : "data";  // nc-experiment's default data root
  std::string imagenet = root + "/imagenet";
  int64_t batch_size = 128, imagenet_batch = 32;
  int epochs = 3;
  app.add_option("--data-root", root, "dataset root (<root>/mnist, <root>/cifar10/cifar-10-batches-bin)");
  app.add_option("--imagenet", imagenet, "ImageNet-style folder with train/<wnid>/ (and synsets.txt)");
  app.add_option("--batch-size", batch_size, "batch size for MNIST and CIFAR-10");
  app.add_option("--imagenet-batch-size", imagenet_batch, "batch size for the ImageNet folder");
  app.add_option("--epochs", epochs, "epochs timed for MNIST and CIFAR-10");
  std::vector<std::string> only{"mnist", "cifar10", "imagenet"};
  app.add_option("--only", only, "the pipelines to time (mnist, cifar10, imagenet)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const auto wanted = [&](const char* name) { return std::find(only.begin(), only.end(), name) != only.end(); };

  std::printf("OpenMP threads for the parallel stages: %d\n", omp_get_max_threads());
  try {
    if (wanted("mnist")) bench_in_memory("mnist", root, batch_size, epochs);
    if (wanted("cifar10")) bench_in_memory("cifar10", root, batch_size, epochs);
    if (wanted("imagenet")) bench_image_folder(imagenet, imagenet_batch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-data: %s\n", e.what());
    return 1;
  }
  return 0;
}
