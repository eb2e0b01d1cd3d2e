#pragma once
// Decoding one image file for the ImageNet pipeline: decode, resize the shorter side, centre-crop.
#include <cstdint>
#include <filesystem>

namespace collapse {

// The standard ImageNet evaluation transform: Resize(256) then CenterCrop(224).
struct ResizeCrop {
  int64_t resize_shorter = 256;
  int64_t crop = 224;
  // Large JPEGs decoded at 1/2, 1/4 or 1/8 scale, never below resize_shorter (data/jpeg_decode.h): much
  // faster for photographs several times the target size, slightly different pixels from torchvision's
  // full decode. False: always decode in full.
  bool dct_scaling = true;
};

// Decodes `path` as 8-bit RGB, chosen by the file's first bytes, not its name: JPEG (grayscale and Adobe
// CMYK/YCCK included) with libjpeg-turbo (data/jpeg_decode.h), PNG with stb_image; grayscale is replicated
// into the three channels, resizes it so the shorter side is
// `prep.resize_shorter` (bilinear as Pillow computes it, see bilinear_resize.h; the longer side is
// truncated as torchvision does), and writes the centred
// crop x crop x 3 HWC bytes to `out`. A file that is neither, or that cannot be decoded, or whose header
// is beyond data/image_limits.h -> collapse::Error naming the file.
void decode_resize_center_crop(const std::filesystem::path& path, const ResizeCrop& prep, uint8_t* out);

// Whether the file's header is a JPEG or PNG header a decoder accepts (cheap: no pixel decoding). A file that passes can still
// fail to decode if its data is corrupt.
bool image_header_readable(const std::filesystem::path& path);

}  // namespace collapse
