// The one translation unit that compiles stb_image for the whole library, for PNG only: JPEG goes to
// libjpeg-turbo (data/jpeg_decode.h), and the folders hold nothing else (data/image_folder.cpp).
// Third-party code: its warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>
#pragma GCC diagnostic pop

#include "data/image_decode.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "data/bilinear_resize.h"
#include "data/file_bytes.h"
#include "data/image_limits.h"
#include "data/jpeg_decode.h"

namespace collapse {

namespace {
struct StbiFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
constexpr int kRgb = 3;

std::vector<uint8_t> read_image_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  COLLAPSE_CHECK(ec || size <= static_cast<uintmax_t>(kMaxImageFileBytes), "image ", path.string(), ": ", size,
                 " bytes is beyond what this reader accepts (", kMaxImageFileBytes, ")");
  return read_file_bytes(path);  // names the file when it is missing or unreadable
}

bool stb_size(const std::vector<uint8_t>& bytes, ImageSize& size) {
  int w = 0, h = 0, channels = 0;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels) == 0)
    return false;
  size = {w, h};
  return true;
}

// The PNG's chunks, checked before stb_image 2.27 sees them: a chunk whose declared length runs past the end
// of the file is an error here (stb_image reallocates to the declared length before reading: a 200-byte file
// asked for 2 GiB), and so is a chunk cut short before IEND; zero-length IDAT chunks, legal and empty, are
// dropped (stb_image would memcpy from a null pointer); bytes after IEND are dropped (stb_image never reads
// them). All found by fuzzing (tests/fuzz/regressions/image/).
std::vector<uint8_t> checked_png_chunks(const std::vector<uint8_t>& png, const std::string& name) {
  constexpr size_t kSignature = 8, kChunkOverhead = 12;  // length, type, CRC
  std::vector<uint8_t> out(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(std::min(png.size(), kSignature)));
  const auto at_offset = [&](size_t offset) { return png.begin() + static_cast<std::ptrdiff_t>(offset); };
  const auto is_type = [&](size_t at, const char* type) {
    return std::equal(at_offset(at + 4), at_offset(at + 8), type);
  };
  size_t at = out.size();
  while (at < png.size()) {
    COLLAPSE_CHECK(png.size() - at >= kChunkOverhead, "cannot decode image ", name, ": PNG chunk at byte ", at,
                   " is cut short by the end of the ", png.size(), "-byte file (truncated?)");
    const size_t length = size_t{png[at]} << 24 | size_t{png[at + 1]} << 16 | size_t{png[at + 2]} << 8 | png[at + 3];
    COLLAPSE_CHECK(length <= png.size() - at - kChunkOverhead, "cannot decode image ", name, ": PNG chunk at byte ",
                   at, " declares ", length, " bytes, past the end of the ", png.size(), "-byte file (truncated?)");
    const bool empty_idat = length == 0 && is_type(at, "IDAT");
    if (!empty_idat) out.insert(out.end(), at_offset(at), at_offset(at + kChunkOverhead + length));
    if (is_type(at, "IEND")) break;
    at += kChunkOverhead + length;
  }
  return out;
}

// torchvision's Resize(int) then CenterCrop of a w x h image: the resized size and the crop's place in it.
struct ResizeCropGeometry {
  int64_t resized_w = 0, resized_h = 0;
  PixelRect crop;
};

ResizeCropGeometry resize_crop_geometry(ImageSize size, const ResizeCrop& prep) {
  const int64_t w = size.width, h = size.height, s = prep.resize_shorter;
  ResizeCropGeometry g;
  // The shorter side becomes `resize_shorter`, the longer one int(resize_shorter * long / short) (truncated).
  g.resized_w = w <= h ? s : static_cast<int64_t>(s * static_cast<double>(w) / h);
  g.resized_h = w <= h ? static_cast<int64_t>(s * static_cast<double>(h) / w) : s;
  // CenterCrop's offset: round((size - crop) / 2) with Python's round-half-to-even, which is what nearbyint
  // does in the default rounding mode.
  g.crop = {static_cast<int64_t>(std::nearbyint((g.resized_w - prep.crop) / 2.0)),
            static_cast<int64_t>(std::nearbyint((g.resized_h - prep.crop) / 2.0)), prep.crop, prep.crop};
  return g;
}

// The input pixels the resize reads for the crop: all a decoder needs to produce.
PixelRect pixels_for_crop(ImageSize size, const ResizeCrop& prep) {
  const ResizeCropGeometry g = resize_crop_geometry(size, prep);
  return resize_bilinear_source(size.width, size.height, g.resized_w, g.resized_h, g.crop);
}

// The image as 8-bit RGB: a JPEG at a reduced scale when its shorter side stays at least
// `min_shorter_side` (0: in full), and only the part of it under `needed`; a PNG whole. Either way in
// `buffer`'s memory.
DecodedImage decode_rgb(const std::vector<uint8_t>& bytes, const std::string& name, int64_t min_shorter_side,
                        std::vector<uint8_t> buffer, const PixelsNeeded& needed) {
  if (looks_like_jpeg(bytes.data(), bytes.size()))
    return decode_jpeg_rgb(bytes.data(), bytes.size(), name, min_shorter_side, std::move(buffer), needed);
  ImageSize size;
  COLLAPSE_CHECK(stb_size(bytes, size), "cannot decode image ", name, ": neither a JPEG nor a readable PNG (",
                 stbi_failure_reason(), ")");
  check_image_size(name, size);
  const std::vector<uint8_t> png = checked_png_chunks(bytes, name);
  int w = 0, h = 0, channels_in_file = 0;
  std::unique_ptr<unsigned char, StbiFree> pixels(
      stbi_load_from_memory(png.data(), static_cast<int>(png.size()), &w, &h, &channels_in_file, kRgb));
  COLLAPSE_CHECK(pixels != nullptr, "cannot decode image ", name, ": ", stbi_failure_reason());
  buffer.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * kRgb);  // into the reused memory
  return {size, {0, 0, w, h}, std::move(buffer)};
}
}  // namespace

void decode_resize_center_crop(const std::filesystem::path& path, const ResizeCrop& prep, uint8_t* out) {
  COLLAPSE_CHECK(prep.crop > 0 && prep.resize_shorter >= prep.crop, "decode_resize_center_crop: crop ", prep.crop,
                 " must be positive and no larger than the resized shorter side ", prep.resize_shorter);
  // The decoded image's memory is kept for the thread's next one: fresh, it would be mmapped (it is above
  // malloc's threshold) and page-faulted in for every image, 13% of the pipeline's time.
  thread_local std::vector<uint8_t> decoded;
  DecodedImage image =
      decode_rgb(read_image_file(path), path.string(), prep.dct_scaling ? prep.resize_shorter : 0, std::move(decoded),
                 [&](ImageSize size) { return pixels_for_crop(size, prep); });
  const ResizeCropGeometry g = resize_crop_geometry(image.size, prep);
  resize_bilinear_window(image.rgb.data(), image.held, image.size.width, image.size.height, kRgb, g.resized_w,
                         g.resized_h, g.crop, out);
  decoded = std::move(image.rgb);
}

bool image_header_readable(const std::filesystem::path& path) {
  // Called for every file of a folder: the first 16 KiB hold the header of most images, 256 KiB that of
  // nearly every real one (EXIF and ICC blocks come before it); only past that is the whole file read.
  const auto readable = [&](const std::vector<uint8_t>& bytes) {
    ImageSize size;
    if (!looks_like_jpeg(bytes.data(), bytes.size())) return stb_size(bytes, size);
    try {
      jpeg_size(bytes.data(), bytes.size(), path.string());
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  try {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> head;
    for (const size_t prefix : {size_t{16} << 10, size_t{256} << 10}) {
      const size_t had = head.size();
      head.resize(prefix);
      in.read(reinterpret_cast<char*>(head.data() + had), static_cast<std::streamsize>(prefix - had));
      head.resize(had + static_cast<size_t>(in.gcount()));
      if (readable(head)) return true;
      if (head.size() < prefix) return false;  // that was the whole file
    }
    return readable(read_image_file(path));
  } catch (const Error&) {
    return false;
  }
}

}  // namespace collapse
