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

class FitsRealData : public ::testing::TestWithParam<std::tuple<std::string, int, double>> {};

TEST_P(FitsRealData, ReachesZeroTrainErrorOnMnistSubset) {
  if (!fs::exists(kDataRoot + "/mnist")) GTEST_SKIP() << "no " << kDataRoot << "/mnist";
  auto [arch, depth, width] = GetParam();
  // 10 images per class, batch 20, lr 0.05 divided by 10 after epochs 15 and 25: the protocol in miniature.
  // The train error is measured in eval mode (running batch-norm statistics), as the paper measures it.
  LoadedDataset data = mnist_subset(10);
  NetworkPtr model = small_model(arch, depth, width, 3);
  SGD sgd(model->parameters(), {0.05, 0.9, 5e-4, false});
  TrainerOptions to;
  to.quiet = true;
  to.epochs = 30;
  Trainer trainer(*model, sgd, MultiStepLR(0.05, {15, 25}), to);
  LoaderOptions lo;
  lo.batch_size = 20;
  lo.seed = 5;
  DataLoader train(data.train, lo);
  DataLoader eval(data.train, LoaderOptions::evaluation(100));
  double error = 1;
  int epoch = 0;
  while (epoch < to.epochs && error > 0) {
    trainer.train_epoch(++epoch, train);
    if (epoch >= 10 && epoch % 5 == 0) error = trainer.evaluate(eval).error;
  }
  EXPECT_EQ(error, 0.0) << arch << depth << " still misclassifies after " << epoch << " epochs";
  std::printf("%s%d: 100%% train accuracy (eval mode) after %d epochs\n", arch.c_str(), depth, epoch);
}

INSTANTIATE_TEST_SUITE_P(Families, FitsRealData,
                         ::testing::Values(std::make_tuple("resnet", 18, 0.125), std::make_tuple("vgg", 11, 0.125),
                                           std::make_tuple("densenet", 40, 1.0)),
                         [](const auto& info) { return std::get<0>(info.param) + std::to_string(std::get<1>(info.param)); });

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
