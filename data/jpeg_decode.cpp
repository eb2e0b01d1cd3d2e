#include "data/jpeg_decode.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstdio>
#include <cstdlib>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>

#include "core/error.h"

namespace collapse {
namespace {

// libjpeg reports a fatal error by calling error_exit, which must not return: it jumps back to the
// setjmp of the call that failed (guarded below), whose caller then throws collapse::Error.
struct ErrorManager {
  jpeg_error_mgr base;  // first, so that libjpeg's cinfo->err is also this struct's address
  std::jmp_buf failed;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX] = {};
};

void on_fatal_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->failed, 1);
}

// Warnings (level -1) are not errors, as in Pillow: a few real ImageNet files have "extraneous bytes before
// marker". A premature end of the file is (libjpeg-turbo would fill the rest with grey).
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    reinterpret_cast<ErrorManager*>(cinfo->err)->truncated = true;
}

// A progressive JPEG with thousands of scans would take minutes: TurboJPEG's TJFLAG_LIMITSCANS bound.
constexpr int kMaxScans = 500;

void limit_scans(j_common_ptr cinfo) {
  if (cinfo->is_decompressor && reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "progressive JPEG with more than %d scans", kMaxScans);
    std::longjmp(err->failed, 1);
  }
}

struct Decompressor {
  jpeg_decompress_struct cinfo{};
  ErrorManager err;
  jpeg_progress_mgr progress{};
  std::string name;
  bool created = false;

  explicit Decompressor(std::string file) : name(std::move(file)) {
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_fatal_error;
    err.base.emit_message = on_message;
    progress.progress_monitor = limit_scans;
    guarded("out of memory", [&] { jpeg_create_decompress(&cinfo); });
    created = true;
    cinfo.progress = &progress;
  }
  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Runs libjpeg calls; a fatal error in them lands here and becomes a collapse::Error naming the file and
  // saying `what` failed. The calls hold nothing with a destructor (the jump would skip it).
  template <class LibjpegCalls>
  void guarded(const char* what, LibjpegCalls&& calls) {
    if (setjmp(err.failed) != 0)
      throw Error("cannot decode image " + name + ": " + what + " (libjpeg-turbo: " + err.message + ")");
    calls();
  }

  void read_header(const uint8_t* bytes, size_t size) {
    COLLAPSE_CHECK(size <= static_cast<size_t>(~0UL), "cannot decode image ", name, ": too large");
    guarded("not a readable JPEG", [&] {
      jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(size));
      jpeg_read_header(&cinfo, TRUE);
    });
    COLLAPSE_CHECK(cinfo.image_width > 0 && cinfo.image_height > 0, "cannot decode image ", name,
                   ": JPEG header says ", cinfo.image_width, "x", cinfo.image_height, " pixels");
  }
};

// stb_image's blinn_8x8: x * y / 255, rounded.
uint8_t scale_by(uint8_t x, uint8_t y) {
  const unsigned t = static_cast<unsigned>(x) * y + 128;
  return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

// Adobe CMYK/YCCK as stored (inverted) to RGB, in place: R = C'K'/255, as stb_image and Pillow do.
void cmyk_to_rgb_in_place(std::vector<uint8_t>& pixels) {
  const size_t n = pixels.size() / 4;
  for (size_t p = 0; p < n; ++p) {  // writes at 3p.. never overtake reads at 4p..
    const uint8_t c = pixels[4 * p], m = pixels[4 * p + 1], y = pixels[4 * p + 2], k = pixels[4 * p + 3];
    pixels[3 * p] = scale_by(c, k), pixels[3 * p + 1] = scale_by(m, k), pixels[3 * p + 2] = scale_by(y, k);
  }
  pixels.resize(3 * n);
}

int64_t round_down(int64_t x, int64_t step) { return x / step * step; }

}  // namespace

bool looks_like_jpeg(const uint8_t* bytes, size_t size) {
  return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

ImageSize jpeg_size(const uint8_t* bytes, size_t size, const std::string& name) {
  Decompressor d(name);
  d.read_header(bytes, size);
  return {d.cinfo.image_width, d.cinfo.image_height};
}

DecodedImage decode_jpeg_rgb(const uint8_t* bytes, size_t size, const std::string& name, int64_t min_shorter_side,
                             std::vector<uint8_t> buffer, const PixelsNeeded& needed) {
  Decompressor d(name);
  jpeg_decompress_struct& cinfo = d.cinfo;
  d.read_header(bytes, size);
  check_image_size(name, {cinfo.image_width, cinfo.image_height});
  // The smallest of 1/8, 1/4, 1/2 that keeps the shorter side >= min_shorter_side (libjpeg rounds up).
  const auto scaled = [](JDIMENSION side, unsigned denom) { return static_cast<int64_t>((side + denom - 1) / denom); };
  if (min_shorter_side > 0)
    for (const unsigned denom : {8U, 4U, 2U})
      if (std::min(scaled(cinfo.image_width, denom), scaled(cinfo.image_height, denom)) >= min_shorter_side) {
        cinfo.scale_num = 1, cinfo.scale_denom = denom;
        break;
      }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // grayscale is replicated into R, G and B
  // libjpeg's defaults are Pillow's and TurboJPEG's: accurate integer IDCT (JDCT_ISLOW), fancy upsampling.
  d.guarded("corrupt JPEG", [&] { jpeg_start_decompress(&cinfo); });
  const int64_t width = cinfo.output_width, height = cinfo.output_height, channels = cinfo.output_components;

  // The blocks to decode: those under `needed`, with one block (an iMCU: 8 or 16 pixels at full scale) more
  // on each side, so that the chroma upsampling of every needed pixel sees its real neighbours.
  const PixelRect want = needed ? needed({width, height}) : PixelRect{0, 0, width, height};
  COLLAPSE_CHECK(want.x0 >= 0 && want.y0 >= 0 && want.width > 0 && want.height > 0 && want.x0 + want.width <= width &&
                     want.y0 + want.height <= height,
                 "decode_jpeg_rgb: pixels [", want.x0, ", ", want.x0 + want.width, ") x [", want.y0, ", ",
                 want.y0 + want.height, ") asked of the ", width, "x", height, " image ", name);
  const int64_t block_w = int64_t{cinfo.max_h_samp_factor} * cinfo.min_DCT_scaled_size;
  const int64_t block_h = int64_t{cinfo.max_v_samp_factor} * cinfo.min_DCT_scaled_size;
  JDIMENSION x0 = static_cast<JDIMENSION>(std::max<int64_t>(want.x0 - block_w, 0));
  JDIMENSION held_w = static_cast<JDIMENSION>(std::min(want.x0 + want.width + block_w, width) - x0);
  // jpeg_crop_scanline moves x0 back to a block edge and widens held_w to match.
  if (held_w < width) d.guarded("corrupt JPEG", [&] { jpeg_crop_scanline(&cinfo, &x0, &held_w); });
  // Rows from and to block-row boundaries: libjpeg-turbo 2.1's skipping is exact from there.
  const int64_t y0 = std::max<int64_t>(round_down(want.y0, block_h) - block_h, 0);
  const int64_t y1 = std::min(round_down(want.y0 + want.height + block_h - 1, block_h) + block_h, height);

  DecodedImage out{{width, height}, {x0, y0, held_w, y1 - y0}, std::move(buffer)};
  out.rgb.resize(static_cast<size_t>(out.held.height * held_w * channels));  // < 2^28 bytes: checked above
  const size_t row_bytes = static_cast<size_t>(held_w * channels);
  std::vector<uint8_t> discarded_row(y1 < height ? row_bytes : 0);  // the image's last row, when not needed
  uint8_t* const first_row = out.rgb.data();
  uint8_t* const last_row = discarded_row.data();
  d.guarded("corrupt JPEG", [&] {
    if (y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(y0));
    while (cinfo.output_scanline < y1) {
      JSAMPROW row = first_row + (cinfo.output_scanline - y0) * row_bytes;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    // The rest is entropy-decoded but not transformed (Huffman codes are read in order); the last row is
    // read so that jpeg_finish_decompress goes on to the end of the file, where a truncation shows.
    while (cinfo.output_scanline < cinfo.output_height) {
      if (cinfo.output_height - cinfo.output_scanline > 1) {
        jpeg_skip_scanlines(&cinfo, cinfo.output_height - cinfo.output_scanline - 1);
      } else {
        JSAMPROW row = last_row;
        jpeg_read_scanlines(&cinfo, &row, 1);
      }
    }
    jpeg_finish_decompress(&cinfo);
  });
  COLLAPSE_CHECK(!d.err.truncated, "cannot decode image ", name,
                 ": truncated JPEG (libjpeg-turbo: Premature end of JPEG file)");
  if (cmyk) cmyk_to_rgb_in_place(out.rgb);
  return out;
}

}  // namespace collapse
