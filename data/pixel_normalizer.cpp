#include "data/pixel_normalizer.h"

#include <cstring>

#include "core/error.h"

namespace collapse {

PixelNormalizer::PixelNormalizer(const ChannelStats& stats) {
  COLLAPSE_CHECK(!stats.mean.empty() && stats.mean.size() == stats.std.size(), "PixelNormalizer: ",
                 stats.mean.size(), " means and ", stats.std.size(), " stds");
  for (size_t c = 0; c < stats.mean.size(); ++c) {
    COLLAPSE_CHECK(stats.std[c] > 0, "PixelNormalizer: channel ", c, " has standard deviation ", stats.std[c],
                   " (a constant channel cannot be normalised)");
    const float mean = static_cast<float>(stats.mean[c]), std = static_cast<float>(stats.std[c]);
    std::array<float, 256> t;
    for (int p = 0; p < 256; ++p) t[p] = (static_cast<float>(p) / 255.0f - mean) / std;
    table_.push_back(t);
  }
}

void PixelNormalizer::normalize(const uint8_t* hwc, int64_t height, int64_t width, int64_t out_h, int64_t out_w,
                                float* out) const {
  const int64_t c = channels();
  COLLAPSE_CHECK(out_h >= height && out_w >= width, "PixelNormalizer: cannot pad ", height, "x", width, " to ",
                 out_h, "x", out_w);
  const int64_t top = (out_h - height) / 2, left = (out_w - width) / 2;
  const int64_t right = out_w - width - left;
  // Row by row: border pixels (raw 0), then the image's row, then border again; no per-pixel branches.
  const auto border = [&](int64_t pixels) {
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t k = 0; k < c; ++k) *out++ = table_[k][0];
  };
  for (int64_t y = 0; y < out_h; ++y) {
    if (y < top || y >= top + height) {
      border(out_w);
      continue;
    }
    border(left);
    const uint8_t* src = hwc + (y - top) * width * c;
    if (c == 1) {
      const std::array<float, 256>& t = table_[0];
      for (int64_t x = 0; x < width; ++x) out[x] = t[src[x]];
    } else {
      for (int64_t x = 0; x < width; ++x)
        for (int64_t k = 0; k < c; ++k) out[x * c + k] = table_[k][src[x * c + k]];
    }
    out += width * c;
    border(right);
  }
}

}  // namespace collapse
