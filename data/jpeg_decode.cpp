#include "data/jpeg_decode.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace collapse {
namespace {

struct TjFree {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using Decompressor = std::unique_ptr<void, TjFree>;

Decompressor open_decompressor(const std::string& name) {
  Decompressor d(tjInitDecompress());
  COLLAPSE_CHECK(d != nullptr, "cannot decode image ", name, ": libjpeg-turbo: ", tjGetErrorStr2(nullptr));
  return d;
}

struct Header {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
};

Header read_header(tjhandle d, const uint8_t* bytes, size_t size, const std::string& name) {
  COLLAPSE_CHECK(size <= static_cast<size_t>(~0UL), "cannot decode image ", name, ": too large");
  Header h;
  COLLAPSE_CHECK(tjDecompressHeader3(d, bytes, static_cast<unsigned long>(size), &h.width, &h.height, &h.subsampling,
                                     &h.colorspace) == 0,
                 "cannot decode image ", name, ": not a readable JPEG (libjpeg-turbo: ", tjGetErrorStr2(d), ")");
  COLLAPSE_CHECK(h.width > 0 && h.height > 0, "cannot decode image ", name, ": JPEG header says ", h.width, "x",
                 h.height, " pixels");
  return h;
}

// stb_image's blinn_8x8: x * y / 255, rounded.
uint8_t scale_by(uint8_t x, uint8_t y) {
  const unsigned t = static_cast<unsigned>(x) * y + 128;
  return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

}  // namespace

bool looks_like_jpeg(const uint8_t* bytes, size_t size) {
  return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

ImageSize jpeg_size(const uint8_t* bytes, size_t size, const std::string& name) {
  const Decompressor d = open_decompressor(name);
  const Header h = read_header(d.get(), bytes, size, name);
  return {h.width, h.height};
}

DecodedImage decode_jpeg_rgb(const uint8_t* bytes, size_t size, const std::string& name, int64_t min_shorter_side,
                             std::vector<uint8_t> buffer) {
  const Decompressor d = open_decompressor(name);
  const Header h = read_header(d.get(), bytes, size, name);
  check_image_size(name, {h.width, h.height});
  // The smallest of 1/8, 1/4, 1/2 that keeps the shorter side >= min_shorter_side (TJSCALED rounds up).
  int width = h.width, height = h.height;
  if (min_shorter_side > 0)
    for (const tjscalingfactor f : {tjscalingfactor{1, 8}, tjscalingfactor{1, 4}, tjscalingfactor{1, 2}})
      if (std::min(TJSCALED(h.width, f), TJSCALED(h.height, f)) >= min_shorter_side) {
        width = TJSCALED(h.width, f), height = TJSCALED(h.height, f);
        break;
      }
  const bool cmyk = h.colorspace == TJCS_CMYK || h.colorspace == TJCS_YCCK;
  const int channels = cmyk ? 4 : 3;
  std::vector<uint8_t> pixels = std::move(buffer);
  pixels.resize(static_cast<size_t>(width) * height * channels);  // < 2^28: checked above
  // LIMITSCANS: a progressive JPEG with thousands of scans would take minutes (libjpeg-turbo's own guard).
  const int flags = TJFLAG_LIMITSCANS;
  if (tjDecompress2(d.get(), bytes, static_cast<unsigned long>(size), pixels.data(), width, 0, height,
                    cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0) {
    const std::string message = tjGetErrorStr2(d.get());
    const bool warning_only = tjGetErrorCode(d.get()) == TJERR_WARNING;
    COLLAPSE_CHECK(warning_only && message.find("Premature end") == std::string::npos, "cannot decode image ", name,
                   ": ", warning_only ? "truncated JPEG" : "corrupt JPEG", " (libjpeg-turbo: ", message, ")");
  }
  if (!cmyk) return {{width, height}, std::move(pixels)};
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (size_t p = 0, n = rgb.size() / 3; p < n; ++p)
    for (int c = 0; c < 3; ++c) rgb[p * 3 + c] = scale_by(pixels[p * 4 + c], pixels[p * 4 + 3]);
  return {{width, height}, std::move(rgb)};
}

}  // namespace collapse
