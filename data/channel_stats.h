#pragma once
// Per-channel mean and population standard deviation of raw pixels scaled to [0, 1], the protocol's
// normalisation constants (computed on the rebalanced training set, over unpadded images).
#include <cstdint>
#include <vector>

#include "data/raw_dataset.h"

namespace collapse {

struct ChannelStats {
  std::vector<double> mean, std;  // one per channel
};

// Sums of pixel values and their squares in exact integer arithmetic, so the result does not depend on
// the order images are added in (threads may merge partial sums in any order).
class ChannelStatsAccumulator {
 public:
  explicit ChannelStatsAccumulator(int64_t channels);
  void add_image(const uint8_t* hwc, int64_t pixels_per_channel);
  void merge(const ChannelStatsAccumulator& other);
  int64_t channels() const { return static_cast<int64_t>(sum_.size()); }
  ChannelStats finish() const;  // error when nothing was added

 private:
  std::vector<uint64_t> sum_, sum_sq_;
  uint64_t count_ = 0;  // pixels per channel added so far
};

ChannelStats compute_channel_stats(const RawDataset& ds);

}  // namespace collapse
