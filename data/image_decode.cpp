// The one translation unit that compiles stb_image for the whole library.
// Third-party code: its warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#pragma GCC diagnostic pop

#include "data/image_decode.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "data/bilinear_resize.h"

namespace collapse {

namespace {
struct StbiFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
constexpr int kRgb = 3;
}  // namespace

void decode_resize_center_crop(const std::filesystem::path& path, const ResizeCrop& prep, uint8_t* out) {
  COLLAPSE_CHECK(prep.crop > 0 && prep.resize_shorter >= prep.crop, "decode_resize_center_crop: crop ", prep.crop,
                 " must be positive and no larger than the resized shorter side ", prep.resize_shorter);
  int w = 0, h = 0, channels_in_file = 0;
  COLLAPSE_CHECK(stbi_info(path.c_str(), &w, &h, &channels_in_file) != 0, "cannot decode image ", path.string(), ": ",
                 stbi_failure_reason());
  COLLAPSE_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide &&
                     int64_t{w} * h <= kMaxImagePixels && std::max(w, h) <= kMaxImageAspect * std::min(w, h),
                 "image ", path.string(), ": ", w, "x", h, " pixels is beyond what this reader accepts (sides up to ",
                 kMaxImageSide, ", at most ", kMaxImagePixels, " pixels, aspect ratio up to ", kMaxImageAspect,
                 ":1); a real dataset image never is");
  std::unique_ptr<unsigned char, StbiFree> pixels(stbi_load(path.c_str(), &w, &h, &channels_in_file, kRgb));
  COLLAPSE_CHECK(pixels != nullptr, "cannot decode image ", path.string(), ": ", stbi_failure_reason());

  // torchvision's Resize(int): the shorter side becomes `resize_shorter`, the longer one
  // int(resize_shorter * long / short) (truncated).
  const int64_t s = prep.resize_shorter;
  const int64_t rw = w <= h ? s : static_cast<int64_t>(s * static_cast<double>(w) / h);
  const int64_t rh = w <= h ? static_cast<int64_t>(s * static_cast<double>(h) / w) : s;
  // torchvision's CenterCrop: offset round((size - crop) / 2) with Python's round-half-to-even, which is
  // what nearbyint does in the default rounding mode.
  const int64_t top = static_cast<int64_t>(std::nearbyint((rh - prep.crop) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((rw - prep.crop) / 2.0));
  resize_bilinear_window(pixels.get(), w, h, kRgb, rw, rh, left, top, prep.crop, prep.crop, out);
}

bool image_header_readable(const std::filesystem::path& path) {
  int w = 0, h = 0, channels = 0;
  return stbi_info(path.c_str(), &w, &h, &channels) != 0;
}

}  // namespace collapse
