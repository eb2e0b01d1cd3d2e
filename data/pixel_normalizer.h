#pragma once
// Raw 8-bit HWC image -> normalised float HWC image, with optional zero padding.
#include <array>
#include <cstdint>
#include <vector>

#include "data/channel_stats.h"

namespace collapse {

class PixelNormalizer {
 public:
  explicit PixelNormalizer(const ChannelStats& stats);
  int64_t channels() const { return static_cast<int64_t>(table_.size()); }

  // Writes the image centred in an out_h x out_w canvas whose border is raw 0 (so it holds -mean/std after
  // normalising, as when padding before normalising), every value (p/255 - mean_c) / std_c in float.
  void normalize(const uint8_t* hwc, int64_t height, int64_t width, int64_t out_h, int64_t out_w,
                 float* out) const;

 private:
  // The 256 possible outputs per channel, computed as torchvision computes them (ToTensor's p/255 in
  // float, then Normalize's (x - mean) / std in float), so a lookup gives the same floats.
  std::vector<std::array<float, 256>> table_;
};

}  // namespace collapse
