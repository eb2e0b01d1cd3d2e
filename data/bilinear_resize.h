#pragma once
// Bilinear resampling as Pillow's Image.resize(size, BILINEAR) computes it, which is what torchvision's
// Resize does to PIL images in the standard ImageNet pipelines: a triangle filter whose support widens
// by the scale factor when shrinking (so downscaling averages, rather than aliases), 22-bit fixed-point
// weights, the horizontal pass first, rounded to 8 bits between passes.
//
// (stb_image_resize 0.97 was the first choice; its coefficient normalisation asserts on some downscale
// ratios, e.g. 426x320 -> 340x256.)
#include <cstdint>

namespace collapse {

// Writes the window [x0, x0 + window_w) x [y0, y0 + window_h) of `in` (w x h x channels, HWC) resized to
// out_w x out_h. Each output pixel depends only on its own weights, so the window equals the same region
// of a full resize: a centre crop costs only the pixels it keeps.
void resize_bilinear_window(const uint8_t* in, int64_t w, int64_t h, int64_t channels, int64_t out_w, int64_t out_h,
                            int64_t x0, int64_t y0, int64_t window_w, int64_t window_h, uint8_t* out);

}  // namespace collapse
