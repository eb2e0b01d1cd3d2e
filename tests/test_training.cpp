// Real training on real data: each family fits a small MNIST subset to 100% train accuracy; a run
// killed after epoch k and resumed from its checkpoint equals the uninterrupted run bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/safetensors.h"
#include "data/registry.h"
#include "optim/trainer.h"

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
  try {
    load_checkpoint((dir / "epoch-0001").string(), *m, s);
    FAIL() << "a truncated checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  {
    std::ofstream garbage(model_file, std::ios::binary | std::ios::trunc);
    garbage << "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all";
  }
  EXPECT_THROW(load_checkpoint((dir / "epoch-0001").string(), *m, s), Error);
  fs::remove_all(dir);
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
