#include "data/channel_stats.h"

#include <cmath>

#include "core/error.h"

namespace collapse {

ChannelStatsAccumulator::ChannelStatsAccumulator(int64_t channels) : sum_(channels, 0), sum_sq_(channels, 0) {}

void ChannelStatsAccumulator::add_image(const uint8_t* hwc, int64_t pixels_per_channel) {
  const int64_t c = channels();
  for (int64_t k = 0; k < c; ++k) {
    uint64_t s = 0, sq = 0;
    for (int64_t p = 0; p < pixels_per_channel; ++p) {
      const uint64_t v = hwc[p * c + k];
      s += v;
      sq += v * v;
    }
    sum_[k] += s;
    sum_sq_[k] += sq;
  }
  count_ += static_cast<uint64_t>(pixels_per_channel);
}

void ChannelStatsAccumulator::merge(const ChannelStatsAccumulator& other) {
  COLLAPSE_CHECK(other.channels() == channels(), "ChannelStatsAccumulator::merge: ", other.channels(),
                 " channels into ", channels());
  for (int64_t k = 0; k < channels(); ++k) {
    sum_[k] += other.sum_[k];
    sum_sq_[k] += other.sum_sq_[k];
  }
  count_ += other.count_;
}

ChannelStats ChannelStatsAccumulator::finish() const {
  COLLAPSE_CHECK(count_ > 0, "channel statistics of an empty dataset");
  ChannelStats st;
  for (int64_t k = 0; k < channels(); ++k) {
    // Population variance n*sum(x^2) - (sum x)^2 over n^2, exact in 128-bit integers before the division,
    // so no cancellation error for near-constant channels.
    const unsigned __int128 n = count_;
    const unsigned __int128 numerator = n * sum_sq_[k] - static_cast<unsigned __int128>(sum_[k]) * sum_[k];
    const long double var = static_cast<long double>(numerator) / (static_cast<long double>(count_) * count_);
    st.mean.push_back(static_cast<double>(static_cast<long double>(sum_[k]) / count_ / 255.0L));
    st.std.push_back(static_cast<double>(std::sqrt(var) / 255.0L));
  }
  return st;
}

ChannelStats compute_channel_stats(const RawDataset& ds) {
  ChannelStatsAccumulator acc(ds.channels);
  for (int64_t i = 0; i < ds.n; ++i) acc.add_image(ds.image(i), ds.height * ds.width);
  return acc.finish();
}

}  // namespace collapse
