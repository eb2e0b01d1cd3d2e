#pragma once
// Bilinear resampling as Pillow's Image.resize(size, BILINEAR) computes it, which is what torchvision's
// Resize does to PIL images in the standard ImageNet pipelines: a triangle filter whose support widens
// by the scale factor when shrinking (so downscaling averages, rather than aliases), 22-bit fixed-point
// weights, the horizontal pass first, rounded to 8 bits between passes.
//
// (stb_image_resize 0.97 was the first choice; its coefficient normalisation asserts on some downscale
// ratios, e.g. 426x320 -> 340x256.)
#include <cstdint>

#include "data/image_limits.h"

namespace collapse {

// The input pixels that the output pixels `window` of a w x h -> out_w x out_h resize read: a decoder need
// produce only these (data/jpeg_decode.h decodes only the JPEG blocks under them).
PixelRect resize_bilinear_source(int64_t w, int64_t h, int64_t out_w, int64_t out_h, PixelRect window);

// Writes the output pixels `window` of the w x h x channels (HWC) image resized to out_w x out_h. `in` holds
// only the part `held` of the image (held.height rows of held.width x channels bytes), which must contain
// resize_bilinear_source(...) of the window. Each output pixel depends only on its own weights, so the window
// equals the same region of a full resize: a centre crop costs only the pixels it keeps.
void resize_bilinear_window(const uint8_t* in, PixelRect held, int64_t w, int64_t h, int64_t channels, int64_t out_w,
                            int64_t out_h, PixelRect window, uint8_t* out);

// The same with the whole image in `in` and the window [x0, x0 + window_w) x [y0, y0 + window_h).
inline void resize_bilinear_window(const uint8_t* in, int64_t w, int64_t h, int64_t channels, int64_t out_w,
                                   int64_t out_h, int64_t x0, int64_t y0, int64_t window_w, int64_t window_h,
                                   uint8_t* out) {
  resize_bilinear_window(in, {0, 0, w, h}, w, h, channels, out_w, out_h, {x0, y0, window_w, window_h}, out);
}

}  // namespace collapse
