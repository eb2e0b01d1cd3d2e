#pragma once
// JPEG decoding with libjpeg-turbo (its TurboJPEG API): the decoder Pillow, and so torchvision's ImageNet
// pipeline, uses, with the same defaults (accurate integer IDCT, fancy upsampling), so the pixels match
// PyTorch's; it is also fuzzed upstream (OSS-Fuzz), unlike stb_image's JPEG decoder, which writes out of
// bounds on some malformed Huffman tables (issue 15).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_limits.h"

namespace collapse {

// Whether the bytes start with a JPEG's start-of-image marker (FF D8 FF), whatever the file is called.
bool looks_like_jpeg(const uint8_t* bytes, size_t size);

// The dimensions in the JPEG's header, without decoding pixels. Not a readable JPEG -> collapse::Error
// naming `name` and what libjpeg-turbo said.
ImageSize jpeg_size(const uint8_t* bytes, size_t size, const std::string& name);

// The whole image as 8-bit RGB (its size checked by check_image_size first), height x width x 3. Grayscale is replicated into the three channels; CMYK
// and YCCK (Adobe, inverted) convert as stb_image and Pillow do (R = C'K'/255 on the stored values). A
// truncated file is an error (libjpeg-turbo would fill the rest with grey); its other warnings (such as
// "extraneous bytes before marker", which a few real ImageNet files have) are not, as in Pillow.
std::vector<uint8_t> decode_jpeg_rgb(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace collapse
