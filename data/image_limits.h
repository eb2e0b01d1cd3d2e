#pragma once
// Limits on what a real photograph is (ImageNet's largest is about 5,000 x 7,000 pixels). Every image
// decoder reads the header first and checks it here: a file beyond them is an error naming the file and
// its dimensions, before any pixel is decoded or any buffer sized from them.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace collapse {

inline constexpr int64_t kMaxImageSide = 32768;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 67 million
inline constexpr int64_t kMaxImageAspect = 64;                // longer side / shorter side
inline constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

struct ImageSize {
  int64_t width = 0, height = 0;
};

// A rectangle of an image's pixels: columns [x0, x0 + width), rows [y0, y0 + height).
struct PixelRect {
  int64_t x0 = 0, y0 = 0, width = 0, height = 0;
};

inline void check_image_size(const std::string& name, ImageSize s) {
  const int64_t w = s.width, h = s.height;
  COLLAPSE_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide && w * h <= kMaxImagePixels &&
                     std::max(w, h) <= kMaxImageAspect * std::min(w, h),
                 "image ", name, ": ", w, "x", h, " pixels is beyond what this reader accepts (sides up to ",
                 kMaxImageSide, ", at most ", kMaxImagePixels, " pixels, aspect ratio up to ", kMaxImageAspect,
                 ":1); a real dataset image never is");
}

}  // namespace collapse
