#pragma once
// Decoding one image file for the ImageNet pipeline: decode, resize the shorter side, centre-crop.
#include <cstdint>
#include <filesystem>

namespace collapse {

// The standard ImageNet evaluation transform: Resize(256) then CenterCrop(224).
struct ResizeCrop {
  int64_t resize_shorter = 256;
  int64_t crop = 224;
};

// Decodes `path` as 8-bit RGB with stb_image (JPEG including grayscale and Adobe CMYK/YCCK, PNG, BMP, ...;
// grayscale is replicated into the three channels), resizes it so the shorter side is
// `prep.resize_shorter` (bilinear as Pillow computes it, see bilinear_resize.h; the longer side is
// truncated as torchvision does), and writes the centred
// crop x crop x 3 HWC bytes to `out`. A file stb_image cannot decode -> collapse::Error naming the file.
void decode_resize_center_crop(const std::filesystem::path& path, const ResizeCrop& prep, uint8_t* out);

// Limits on what a real photograph is (ImageNet's largest is about 5,000 x 7,000 pixels). The header is
// read first: a file beyond them is an error naming the file and its dimensions, before any pixel is
// decoded or any buffer sized from them.
inline constexpr int64_t kMaxImageSide = 32768;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 67 million
inline constexpr int64_t kMaxImageAspect = 64;                // longer side / shorter side

// Whether stb_image recognises the file's header (cheap: no pixel decoding). A file that passes can still
// fail to decode if its data is corrupt.
bool image_header_readable(const std::filesystem::path& path);

}  // namespace collapse
