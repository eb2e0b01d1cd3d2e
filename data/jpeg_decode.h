#pragma once
// JPEG decoding with libjpeg-turbo: the decoder Pillow, and so torchvision's ImageNet pipeline, uses, with
// the same defaults (accurate integer IDCT, fancy upsampling), so the pixels match PyTorch's; it is also
// fuzzed upstream (OSS-Fuzz), unlike stb_image's JPEG decoder, which writes out of bounds on some malformed
// Huffman tables (issue 15). Through its libjpeg API rather than TurboJPEG 2's, which cannot decode part of
// an image: a centre crop needs only the blocks under it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/image_limits.h"

namespace collapse {

// Whether the bytes start with a JPEG's start-of-image marker (FF D8 FF), whatever the file is called.
bool looks_like_jpeg(const uint8_t* bytes, size_t size);

// The dimensions in the JPEG's header, without decoding pixels. Not a readable JPEG -> collapse::Error
// naming `name` and what libjpeg-turbo said.
ImageSize jpeg_size(const uint8_t* bytes, size_t size, const std::string& name);

struct DecodedImage {
  ImageSize size;            // the decoded image's: the file's, or smaller when decoded at a reduced scale
  PixelRect held;            // the part of it that `rgb` holds: all of it unless the caller asked for less
  std::vector<uint8_t> rgb;  // held.height x held.width x 3
};

// Given the decoded image's size, the part of it the caller will read.
using PixelsNeeded = std::function<PixelRect(ImageSize)>;

// The image as 8-bit RGB (the header's size checked by check_image_size first). Grayscale is replicated into
// the three channels; CMYK and YCCK (Adobe, inverted) convert as stb_image and Pillow do (R = C'K'/255 on the
// stored values). A truncated file is an error (libjpeg-turbo would fill the rest with grey); its other
// warnings (such as "extraneous bytes before marker", which a few real ImageNet files have) are not, as in
// Pillow.
// `min_shorter_side` > 0 lets the decoder work in the DCT domain at 1/2, 1/4 or 1/8 scale, the smallest whose
// shorter side is still at least that many pixels (what PIL's Image.draft does): a 4000 x 3000 photograph
// resized to 256 afterwards then costs a sixteenth of the decoding. The pixels then differ slightly from a
// full decode followed by the same resize (torchvision decodes in full); 0 decodes in full.
// `buffer` becomes the result's `rgb` (its capacity is reused: a pipeline passes the previous image's back,
// so decoding allocates and page-faults nothing in the steady state).
// `needed`, when given, says which pixels the caller will read: only the blocks under them (and a margin of
// one block row and column, for the chroma upsampling) are transformed and converted; the rest is only
// entropy-decoded (rows; Huffman codes must be read in order) or skipped (columns). The pixels of `needed`
// equal a full decode's (tested); `held` is the larger rectangle decoded, whose edges may not. The whole
// file is still read, so a truncated one is an error as before.
DecodedImage decode_jpeg_rgb(const uint8_t* bytes, size_t size, const std::string& name, int64_t min_shorter_side = 0,
                             std::vector<uint8_t> buffer = {}, const PixelsNeeded& needed = nullptr);

}  // namespace collapse
