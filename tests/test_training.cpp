// Real training on real data: each family fits a small MNIST subset to 100% train accuracy; a run
// killed after epoch k and resumed from its checkpoint equals the uninterrupted run bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <thread>

#include "core/safetensors.h"
#include "data/registry.h"
#include "layers/models/network.h"
#include "train/trainer.h"

using namespace collapse;
namespace fs = std::filesystem;

namespace {
const std::string kDataRoot = COLLAPSE_SHARED_DATASETS;

LoadedDataset mnist_subset(int64_t per_class) {
  LoadOptions o;
  o.train_per_class = per_class;
  o.seed = 1;
  return load_dataset("mnist", kDataRoot, o);
}

NetworkPtr small_model(const std::string& arch, int depth, double width, uint64_t seed) {
  Generator g(seed);
  return build_model({arch, depth, width, 1, 32, 10}, g);
}
}  // namespace

// The protocol in miniature: SGD (momentum 0.9, weight decay 5e-4), lr 0.05 divided by 10 at two
// milestones, on a balanced MNIST subset, until the train error measured in eval mode (running batch-norm
// statistics, as the paper measures it) is exactly zero. Sizes are chosen so each run takes well under two
// minutes on one core.
struct FitCase {
  std::string arch;
  int depth;
  double width;
  int64_t per_class, batch;
  std::vector<int> milestones;
  int max_epochs;
};

class FitsRealData : public ::testing::TestWithParam<FitCase> {};

TEST_P(FitsRealData, ReachesZeroTrainErrorOnMnistSubset) {
  if (!fs::exists(kDataRoot + "/mnist")) GTEST_SKIP() << "no " << kDataRoot << "/mnist";
  const FitCase& c = GetParam();
  LoadedDataset data = mnist_subset(c.per_class);
  NetworkPtr model = small_model(c.arch, c.depth, c.width, 3);
  SGD sgd(model->parameters(), {0.05, 0.9, 5e-4, false});
  TrainerOptions to;
  to.quiet = true;
  to.epochs = c.max_epochs;
  Trainer trainer(*model, sgd, MultiStepLR(0.05, c.milestones), to);
  LoaderOptions lo;
  lo.batch_size = c.batch;
  lo.seed = 5;
  DataLoader train(data.train, lo);
  DataLoader eval(data.train, LoaderOptions::evaluation(100));
  double error = 1;
  int epoch = 0;
  while (epoch < to.epochs && error > 0) {
    trainer.train_epoch(++epoch, train);
    if (epoch >= 10 && epoch % 5 == 0) error = trainer.evaluate(eval).error;
  }
  EXPECT_EQ(error, 0.0) << c.arch << c.depth << " still misclassifies after " << epoch << " epochs";
  if (error == 0.0) std::printf("%s%d: 100%% train accuracy (eval mode) after %d epochs\n", c.arch.c_str(), c.depth, epoch);
}

// What a user watching a run reads (not on a terminal: one line per N steps and one per epoch), and an ETA
// that averages the run so far including the time spent between epochs (measurements, checkpoints): the
// earlier ETA (last epoch x epochs left) was wrong by up to 8x late in a run.
TEST(Progress, StepLinesEpochLinesAndAnEtaThatCountsTimeBetweenEpochs) {
  if (!fs::exists(kDataRoot + "/mnist")) GTEST_SKIP() << "no " << kDataRoot << "/mnist";
  LoadedDataset data = mnist_subset(10);  // 100 images: 5 steps of 20
  NetworkPtr model = small_model("resnet", 18, 0.125, 3);
  SGD sgd(model->parameters(), {0.05, 0.9, 5e-4, false});
  TrainerOptions to;
  to.epochs = 4;
  to.progress_every = 2;
  Trainer trainer(*model, sgd, MultiStepLR(0.05, {3}), to);
  LoaderOptions lo;
  lo.batch_size = 20;
  DataLoader train(data.train, lo);
  testing::internal::CaptureStdout();
  trainer.train_epoch(1, train);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a measurement between epochs
  trainer.train_epoch(2, train);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("  epoch 1 step 2/5  loss "), std::string::npos) << out;
  EXPECT_NE(out.find("  epoch 1 step 4/5  loss "), std::string::npos) << out;
  EXPECT_EQ(out.find("step 5/5"), std::string::npos) << "every 2 steps only\n" << out;
  EXPECT_NE(out.find("epoch 1/4  lr 0.05  loss "), std::string::npos) << out;
  const std::regex eta(R"(epoch 2/4  lr 0\.05 .* ETA (\d+)m(\d+)s)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, eta)) << out;
  // At least 3 s over 2 epochs so far, 2 epochs left: >= 3 s however fast the machine trains.
  EXPECT_GE(std::stoi(m[1]) * 60 + std::stoi(m[2]), 3) << out;
}

INSTANTIATE_TEST_SUITE_P(Families, FitsRealData,
                         ::testing::Values(FitCase{"resnet", 18, 0.125, 10, 20, {15, 25}, 40},
                                           FitCase{"vgg", 11, 0.125, 20, 32, {15, 25}, 45},
                                           FitCase{"densenet", 40, 0.5, 5, 10, {25, 35}, 50}),
                         [](const auto& info) { return info.param.arch + std::to_string(info.param.depth); });

TEST(Checkpoint, KilledAndResumedRunEqualsUninterruptedBitForBit) {
  if (!fs::exists(kDataRoot + "/mnist")) GTEST_SKIP() << "no " << kDataRoot << "/mnist";
  LoadedDataset data = mnist_subset(8);
  const fs::path dir = fs::temp_directory_path() / "collapse_resume_test";
  fs::remove_all(dir);
  LoaderOptions lo;
  lo.batch_size = 16;
  lo.seed = 9;
  TrainerOptions to;
  to.quiet = true;
  const MultiStepLR schedule(0.05, {2});

  // Uninterrupted: 4 epochs.
  NetworkPtr a = small_model("resnet", 18, 0.0625, 1);
  SGD sa(a->parameters(), {0.05, 0.9, 5e-4, false});
  Trainer ta(*a, sa, schedule, to);
  DataLoader la(data.train, lo);
  for (int e = 1; e <= 4; ++e) {
    ta.train_epoch(e, la);
    if (e == 2) save_checkpoint(dir.string(), *a, sa, {2, std::nullopt, std::nullopt, {}});
  }

  // "Killed" after epoch 2: a new process builds a differently initialised model and resumes.
  NetworkPtr b = small_model("resnet", 18, 0.0625, 999);
  SGD sb(b->parameters(), {0.05, 0.9, 5e-4, false});
  auto ckpt = latest_checkpoint(dir.string());
  ASSERT_TRUE(ckpt.has_value());
  CheckpointState st = load_checkpoint(*ckpt, *b, sb);
  EXPECT_EQ(st.epoch, 2);
  Trainer tb(*b, sb, schedule, to);
  DataLoader lb(data.train, lo);
  for (int e = st.epoch + 1; e <= 4; ++e) tb.train_epoch(e, lb);

  auto sda = a->state_dict(), sdb = b->state_dict();
  ASSERT_EQ(sda.size(), sdb.size());
  for (size_t i = 0; i < sda.size(); ++i)
    EXPECT_EQ(sda[i].second.to_double_vector(), sdb[i].second.to_double_vector()) << sda[i].first;
  fs::remove_all(dir);
}

namespace {
// The error loading a checkpoint gives, or "" when it loads.
std::string load_error(const fs::path& checkpoint, Network& model, SGD& sgd) {
  try {
    load_checkpoint(checkpoint.string(), model, sgd);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Checkpoint, TruncatedOrCorruptFilesAreClearErrors) {
  const fs::path dir = fs::temp_directory_path() / "collapse_corrupt_test";
  fs::remove_all(dir);
  NetworkPtr m = small_model("resnet", 18, 0.0625, 1);
  SGD s(m->parameters(), {});
  save_checkpoint(dir.string(), *m, s, {1, std::nullopt, std::nullopt, {}});
  const fs::path model_file = dir / "epoch-0001" / "model.safetensors";
  ASSERT_TRUE(fs::exists(model_file));
  const auto size = fs::file_size(model_file);
  fs::resize_file(model_file, size / 2);
  const std::string truncated = load_error(dir / "epoch-0001", *m, s);
  EXPECT_NE(truncated.find("model.safetensors"), std::string::npos) << "a truncated checkpoint loaded: " << truncated;
  {
    std::ofstream garbage(model_file, std::ios::binary | std::ios::trunc);
    garbage << "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all";
  }
  EXPECT_THROW(load_checkpoint((dir / "epoch-0001").string(), *m, s), Error);
  fs::remove_all(dir);
}

TEST(Checkpoint, FlippedBitNonFiniteWeightAndBadEpochAreNamed) {
  const fs::path dir = fs::temp_directory_path() / "collapse_checksum_test";
  fs::remove_all(dir);
  NetworkPtr m = small_model("resnet", 18, 0.0625, 1);
  SGD s(m->parameters(), {});
  save_checkpoint(dir.string(), *m, s, {1, std::nullopt, std::nullopt, {}});
  const fs::path ckpt = dir / "epoch-0001", model_file = ckpt / "model.safetensors";
  ASSERT_EQ(load_error(ckpt, *m, s), "");  // a good checkpoint verifies
  {  // one bit of the last tensor's payload (the file's last byte) flipped on disk
    std::fstream f(model_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    char byte = 0;
    f.get(byte);
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(byte ^ 0x10));
  }
  const std::string flipped = load_error(ckpt, *m, s);
  EXPECT_NE(flipped.find("model.safetensors"), std::string::npos) << flipped;
  EXPECT_NE(flipped.find("does not match its checksum"), std::string::npos) << flipped;

  // NaN weights with a consistent checksum (as a diverged run would have saved them) are refused too.
  auto params = m->named_parameters();
  params[0].second.data().data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  save_checkpoint(dir.string(), *m, s, {2, std::nullopt, std::nullopt, {}});
  const std::string nan = load_error(dir / "epoch-0002", *m, s);
  EXPECT_NE(nan.find("'" + params[0].first + "' holds nan at index 3"), std::string::npos) << nan;

  // Epoch metadata is parsed strictly: "-3" is not an epoch, and the error names the file and field.
  params[0].second.data().data<float>()[3] = 0.5f;
  save_checkpoint(dir.string(), *m, s, {3, std::nullopt, std::nullopt, {}});
  const fs::path trainer_file = dir / "epoch-0003" / "trainer.safetensors";
  std::map<std::string, std::string> meta;
  NamedTensors buffers = load_safetensors(trainer_file.string(), &meta);
  meta["epoch"] = "-3";
  save_safetensors(trainer_file.string(), buffers, meta);
  const std::string bad_epoch = load_error(dir / "epoch-0003", *m, s);
  EXPECT_NE(bad_epoch.find("trainer.safetensors: metadata 'epoch' = '-3' is not an epoch number"), std::string::npos)
      << bad_epoch;
  fs::remove_all(dir);
}

// A header that declares a huge shape is refused before anything is allocated, naming file and tensor.
TEST(Checkpoint, SafetensorsHugeShapeIsRefusedBeforeAllocating) {
  const fs::path file = fs::temp_directory_path() / "collapse_huge.safetensors";
  auto write = [&](const std::string& shape) {
    std::string header = R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header.size() >> (8 * i)) & 0xff));
    out << header << std::string(4, '\0');
  };
  auto error = [&] {
    try {
      load_safetensors(file.string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  write("[1000000000,1000000000]");  // 4e18 bytes: fits in int64, not in the file
  EXPECT_NE(error().find("tensor 'w' holds 4 bytes"), std::string::npos) << error();
  write("[10000000000,10000000000]");  // overflows
  EXPECT_NE(error().find("size overflows"), std::string::npos) << error();
  EXPECT_NE(error().find("collapse_huge.safetensors"), std::string::npos) << error();
  write("[1]");
  EXPECT_EQ(error(), "");
  fs::remove(file);
}

TEST(Checkpoint, KeepsThePreviousOneAndResumesFromTheNewestValid) {
  const fs::path dir = fs::temp_directory_path() / "collapse_fallback_test";
  fs::remove_all(dir);
  NetworkPtr m = small_model("resnet", 18, 0.0625, 1);
  SGD s(m->parameters(), {});
  for (int epoch : {1, 2, 3}) save_checkpoint(dir.string(), *m, s, {epoch, std::nullopt, std::nullopt, {}});
  EXPECT_FALSE(fs::exists(dir / "epoch-0001"));
  ASSERT_TRUE(fs::exists(dir / "epoch-0002"));
  ASSERT_TRUE(fs::exists(dir / "epoch-0003"));
  fs::resize_file(dir / "epoch-0003" / "model.safetensors", 100);  // the newest is damaged
  auto loaded = load_latest_valid_checkpoint(dir.string(), *m, s);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->state.epoch, 2);
  EXPECT_EQ(fs::path(loaded->dir).filename(), "epoch-0002");
  fs::resize_file(dir / "epoch-0002" / "model.safetensors", 100);  // and now both: an error, not a fresh start
  EXPECT_THROW(load_latest_valid_checkpoint(dir.string(), *m, s), Error);
  fs::remove_all(dir);
  EXPECT_FALSE(load_latest_valid_checkpoint(dir.string(), *m, s).has_value());  // no checkpoint at all
}

TEST(Determinism, SameSeedSameBits) {
  if (!fs::exists(kDataRoot + "/mnist")) GTEST_SKIP() << "no " << kDataRoot << "/mnist";
  LoadedDataset data = mnist_subset(4);
  auto run = [&] {
    NetworkPtr m = small_model("densenet", 40, 0.25, 42);
    SGD s(m->parameters(), {0.05, 0.9, 5e-4, false});
    TrainerOptions to;
    to.quiet = true;
    Trainer t(*m, s, MultiStepLR(0.05, {}), to);
    LoaderOptions lo;
    lo.batch_size = 8;
    lo.seed = 3;
    DataLoader l(data.train, lo);
    t.train_epoch(1, l);
    t.train_epoch(2, l);
    return m->state_dict();
  };
  auto x = run(), y = run();
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(x[i].second.to_double_vector(), y[i].second.to_double_vector()) << x[i].first;
}
