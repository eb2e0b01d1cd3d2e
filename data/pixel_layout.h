#pragma once
// The dataset files store images planar (one channel after another) in either row-major order (CIFAR)
// or column-major order (MATLAB's SVHN arrays, STL10). RawDataset keeps HWC; this converts, given the
// source's strides, so each reader states its layout in one line instead of writing its own loop.
#include <cstdint>

namespace collapse {

struct PlanarLayout {
  int64_t channel_stride, row_stride, col_stride;  // in bytes of the source image
};

// Planar row-major: channel, then row, then column (CIFAR binary, CHW).
inline PlanarLayout planar_row_major(int64_t height, int64_t width) { return {height * width, width, 1}; }
// Planar column-major: for each channel the pixels go column by column (MATLAB arrays, STL10).
inline PlanarLayout planar_column_major(int64_t height, int64_t width) { return {height * width, 1, height}; }

inline void planar_to_hwc(const uint8_t* src, PlanarLayout layout, int64_t channels, int64_t height, int64_t width,
                          uint8_t* hwc) {
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < channels; ++c)
        *hwc++ = src[c * layout.channel_stride + y * layout.row_stride + x * layout.col_stride];
}

}  // namespace collapse
