// summary.json from a synthetic metrics stream (experiments/support/summary.h): Table 1's fields, the
// terminal-phase change, and a late loss spike recorded as a TPT interruption with the NC1 change over the
// last uninterrupted stretch.
#include <gtest/gtest.h>

#include "experiments/support/summary.h"

namespace collapse::experiment {
namespace {

nlohmann::json line(int epoch, double train_error, double loss, double nc1) {
  return {{"epoch", epoch}, {"train_error", train_error}, {"train_loss", loss}, {"test_error", 0.1},
          {"nc1", nc1},     {"nc3", 0.5},                 {"nc4", 0.02}};
}

struct MeasuredRun {
  std::vector<nlohmann::json> lines;
  TerminalPhaseTracker tpt{0.999};
  void add(int epoch, double train_error, double loss, double nc1) {
    lines.push_back(line(epoch, train_error, loss, nc1));
    tpt.observe(epoch, train_error);
  }
};

ExperimentConfig config() {
  ExperimentConfig c;
  c.dataset = "mnist";
  c.epochs = 50;
  return c;
}

TEST(ExperimentSummary, SmoothTerminalPhaseHasNoInterruption) {
  MeasuredRun r;
  r.add(0, 0.9, 2.3, 1.0);
  r.add(10, 0.0, 0.01, 0.2);
  r.add(30, 0.0, 0.001, 0.02);
  r.add(50, 0.0, 0.001, 0.01);
  const nlohmann::json s = make_summary(r.lines, r.tpt, config(), {100, 100});
  EXPECT_EQ(s["tpt_onset_epoch"], 10);
  EXPECT_EQ(s["first_zero_error_epoch"], 10);
  EXPECT_TRUE(s["tpt_interruptions"].empty());
  EXPECT_DOUBLE_EQ(s["terminal_phase"]["nc1_reduction"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(s["nc1_reduction_from_init"].get<double>(), 100.0);
  EXPECT_FALSE(s["terminal_phase"].contains("last_uninterrupted_stretch"));
  EXPECT_TRUE(s["train_set_balanced"].get<bool>());
}

// Onset at 10, a spike at 30 (loss 0.001 -> 0.9, train error 0.3), back at 40, on to 60.
TEST(ExperimentSummary, LateSpikeIsAnInterruptionWithItsLastStretch) {
  MeasuredRun r;
  r.add(0, 0.9, 2.3, 1.0);
  r.add(10, 0.0, 0.01, 0.2);
  r.add(20, 0.0, 0.001, 0.05);
  r.add(30, 0.3, 0.9, 0.4);
  r.add(40, 0.0, 0.01, 0.1);
  r.add(60, 0.0, 0.001, 0.02);
  const nlohmann::json s = make_summary(r.lines, r.tpt, config(), {100, 98});
  ASSERT_EQ(s["tpt_interruptions"].size(), 1u);
  const auto& event = s["tpt_interruptions"][0];
  EXPECT_EQ(event["epoch"], 30);
  EXPECT_DOUBLE_EQ(event["train_error"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(event["loss_before"].get<double>(), 0.001);
  EXPECT_DOUBLE_EQ(event["loss_after"].get<double>(), 0.9);
  // Onset -> end still reads 10x, but the summary says the phase broke and what the last stretch did.
  EXPECT_DOUBLE_EQ(s["terminal_phase"]["nc1_reduction"].get<double>(), 10.0);
  const auto& stretch = s["terminal_phase"]["last_uninterrupted_stretch"];
  EXPECT_EQ(stretch["from_epoch"], 40);
  EXPECT_EQ(stretch["to_epoch"], 60);
  EXPECT_DOUBLE_EQ(stretch["nc1_reduction"].get<double>(), 5.0);
  EXPECT_FALSE(s["train_set_balanced"].get<bool>());
  EXPECT_EQ(s["train_images_per_class"]["min"], 98);
}

TEST(ExperimentSummary, OneErrorInAThousandIsStillTerminalPhase) {
  EXPECT_FALSE(below_tpt_threshold(0.001, 0.999));  // 99.9% accuracy is the threshold itself
  EXPECT_TRUE(below_tpt_threshold(0.002, 0.999));
  EXPECT_FALSE(below_tpt_threshold(0.0, 0.999));
}

// A 30-epoch run whose schedule divided the rate at 10 and 20 and reached the TPT only at 25: flagged,
// because the collapse the paper shows happens at the initial rate (a run like this read "NC1 1.0x lower").
TEST(ExperimentSummary, LearningRateDecayBeforeTheTerminalPhaseIsFlagged) {
  ExperimentConfig c = config();
  c.epochs = 30;
  c.lr_milestones = {10, 20};
  MeasuredRun late;
  late.add(0, 0.9, 2.3, 1.0);
  EXPECT_FALSE(make_summary(late.lines, late.tpt, c, {})["lr_decayed_before_tpt"].get<bool>());  // not past it yet
  late.add(15, 0.05, 0.2, 0.5);
  EXPECT_TRUE(make_summary(late.lines, late.tpt, c, {})["lr_decayed_before_tpt"].get<bool>());
  late.add(25, 0.0, 0.01, 0.2);
  late.add(30, 0.0, 0.01, 0.19);
  EXPECT_TRUE(make_summary(late.lines, late.tpt, c, {})["lr_decayed_before_tpt"].get<bool>());

  MeasuredRun early;
  early.add(0, 0.9, 2.3, 1.0);
  early.add(8, 0.0, 0.01, 0.2);
  early.add(30, 0.0, 0.001, 0.02);
  EXPECT_FALSE(make_summary(early.lines, early.tpt, c, {})["lr_decayed_before_tpt"].get<bool>());

  EXPECT_FALSE(lr_decayed_before_tpt({10, 20}, std::nullopt, 10));  // not past the decay yet
  EXPECT_TRUE(lr_decayed_before_tpt({10, 20}, std::nullopt, 11));
  EXPECT_FALSE(lr_decayed_before_tpt({10, 20}, 10, 30));            // onset measured at the last full-rate epoch
  EXPECT_TRUE(lr_decayed_before_tpt({20, 10}, 11, 30));             // milestones in any order
  EXPECT_FALSE(lr_decayed_before_tpt({}, std::nullopt, 30));        // no decay at all
}

// The one terminal-phase rule (TerminalPhaseTracker::accurate_enough), with its rounding slack.
TEST(ExperimentSummary, TerminalPhaseThreshold) {
  const TerminalPhaseTracker paper(0.999), imagenet(0.996);
  EXPECT_TRUE(paper.accurate_enough(0.0));
  EXPECT_TRUE(paper.accurate_enough(0.001));       // 99.9 % exactly
  EXPECT_TRUE(paper.accurate_enough(5.0 / 5000));  // as computed from counts
  EXPECT_FALSE(paper.accurate_enough(6.0 / 5000));
  EXPECT_TRUE(imagenet.accurate_enough(0.004));
  EXPECT_FALSE(imagenet.accurate_enough(0.0041));
}

}  // namespace
}  // namespace collapse::experiment
