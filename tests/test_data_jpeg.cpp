// JPEG through libjpeg-turbo (data/jpeg_decode.h): the real ImageNet sample decodes as stb_image decoded
// it (up to IDCT and upsampling rounding), CMYK/YCCK convert as before, the decoder is chosen by the
// bytes and not the name, and truncated, corrupt or oversized files are errors naming the file.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

// stb_image's own JPEG decoder, private to this test, as the reference the library used before.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#include <stb_image.h>
#pragma GCC diagnostic pop

#include "data/bilinear_resize.h"
#include "data/image_decode.h"
#include "data/jpeg_decode.h"
#include "tests/test_data_fixtures.h"

namespace fs = std::filesystem;
using namespace collapse;
using namespace collapse::testing;

namespace {

const fs::path kSample = kSharedDatasets / "imagenet-sample";

// A JPEG of `pixels` (h x w x channels of `format`) written by libjpeg-turbo.
Bytes compress(int w, int h, int format, int subsampling, const Bytes& pixels, int flags = 0, int quality = 100) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(tj, pixels.data(), w, 0, h, format, &out, &size, subsampling, quality, flags), 0)
      << tjGetErrorStr2(tj);
  Bytes jpeg(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return jpeg;
}

Bytes decode(const Bytes& jpeg, const std::string& name = "test.jpg") {
  return decode_jpeg_rgb(jpeg.data(), jpeg.size(), name).rgb;
}

// The start-of-frame marker's height and width fields, rewritten.
Bytes with_frame_size(Bytes jpeg, uint16_t w, uint16_t h) {
  for (size_t i = 0; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      jpeg[i + 5] = h >> 8, jpeg[i + 6] = h & 0xFF, jpeg[i + 7] = w >> 8, jpeg[i + 8] = w & 0xFF;
      return jpeg;
    }
  ADD_FAILURE() << "no SOF marker";
  return jpeg;
}

// The rectangle `r` of a decoded image, cut from the part it holds.
Bytes cut(const DecodedImage& image, PixelRect r) {
  EXPECT_TRUE(image.held.x0 <= r.x0 && image.held.y0 <= r.y0 && r.x0 + r.width <= image.held.x0 + image.held.width &&
              r.y0 + r.height <= image.held.y0 + image.held.height);
  Bytes out;
  for (int64_t y = r.y0; y < r.y0 + r.height; ++y) {
    const auto row = image.rgb.begin() + ((y - image.held.y0) * image.held.width + (r.x0 - image.held.x0)) * 3;
    out.insert(out.end(), row, row + r.width * 3);
  }
  return out;
}

// Decoding only the pixels of `r` gives the full decode's pixels there, and decodes less.
void expect_partial_equals_full(const Bytes& jpeg, int64_t min_shorter_side, PixelRect r, const std::string& what) {
  const DecodedImage full = decode_jpeg_rgb(jpeg.data(), jpeg.size(), what, min_shorter_side);
  const DecodedImage part =
      decode_jpeg_rgb(jpeg.data(), jpeg.size(), what, min_shorter_side, {}, [&](ImageSize size) {
        EXPECT_EQ(size.width, full.size.width);
        return r;
      });
  ASSERT_EQ(part.rgb.size(), static_cast<size_t>(part.held.width * part.held.height * 3)) << what;
  EXPECT_TRUE(cut(part, r) == cut(full, r)) << what << ": window " << r.x0 << "," << r.y0 << " " << r.width << "x"
                                            << r.height;
}

}  // namespace

TEST(DataJpeg, RealSampleDecodesAsStbImageDid) {
  if (!fs::exists(kSample)) GTEST_SKIP() << "no " << kSample;
  // a colour and a grayscale image of the sample
  for (const char* file : {"train/n03888257/n03888257_11439.JPEG", "train/n02979186/n02979186_4266.JPEG"}) {
    const fs::path path = kSample / file;
    if (!fs::exists(path)) GTEST_SKIP() << "no " << path;
    const Bytes bytes = read_file(path);
    const Bytes ours = decode(bytes, path.string());  // in full
    int w = 0, h = 0, c = 0;
    unsigned char* theirs = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 3);
    ASSERT_NE(theirs, nullptr);
    const ImageSize size = jpeg_size(bytes.data(), bytes.size(), path.string());
    ASSERT_EQ(size.width, w);
    ASSERT_EQ(size.height, h);
    ASSERT_EQ(ours.size(), static_cast<size_t>(w) * h * 3);
    double total = 0;
    int worst = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      const int d = std::abs(int{ours[i]} - int{theirs[i]});
      total += d;
      worst = std::max(worst, d);
    }
    stbi_image_free(theirs);
    EXPECT_LT(total / ours.size(), 1.0) << file;  // the same image: only rounding differs
    EXPECT_LT(worst, 64) << file;
  }
}

TEST(DataJpeg, GrayscaleIsReplicatedAndCmykConvertsAsAdobeInverted) {
  const int w = 16, h = 8;
  const Bytes gray = decode(compress(w, h, TJPF_GRAY, TJSAMP_GRAY, Bytes(w * h, 90)));
  ASSERT_EQ(gray.size(), static_cast<size_t>(w * h * 3));
  for (uint8_t v : gray) EXPECT_NEAR(v, 90, 1);
  // Stored (inverted) C', M', Y', K' = 200, 100, 250, 128: R = C'K'/255 = 100, G = 50, B = 125.
  Bytes cmyk;
  for (int p = 0; p < w * h; ++p) cmyk.insert(cmyk.end(), {200, 100, 250, 128});
  const Bytes rgb = decode(compress(w, h, TJPF_CMYK, TJSAMP_444, cmyk));
  ASSERT_EQ(rgb.size(), static_cast<size_t>(w * h * 3));
  for (int p = 0; p < w * h; ++p) {
    EXPECT_NEAR(rgb[p * 3 + 0], 100, 3);
    EXPECT_NEAR(rgb[p * 3 + 1], 50, 3);
    EXPECT_NEAR(rgb[p * 3 + 2], 125, 3);
  }
}

TEST(DataJpeg, TheBytesChooseTheDecoderNotTheName) {
  TempDir dir;
  const auto pattern = [](int x, int y, int c) { return (7 * x + 3 * y + 60 * c) % 256; };
  Bytes pixels;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) pixels.push_back(static_cast<uint8_t>(pattern(x, y, c)));
  write_file(dir / "really_a_jpeg.png", compress(48, 40, TJPF_RGB, TJSAMP_444, pixels));
  write_png(dir / "really_a_png.JPEG", 48, 40, 3, pixels);
  Bytes a(32 * 32 * 3), b(32 * 32 * 3);
  decode_resize_center_crop(dir / "really_a_jpeg.png", {40, 32}, a.data());
  decode_resize_center_crop(dir / "really_a_png.JPEG", {40, 32}, b.data());
  double total = 0;
  for (size_t i = 0; i < a.size(); ++i) total += std::abs(int{a[i]} - int{b[i]});
  EXPECT_LT(total / a.size(), 2.0);  // the same picture, once lossy
  EXPECT_TRUE(image_header_readable(dir / "really_a_jpeg.png"));
  EXPECT_TRUE(image_header_readable(dir / "really_a_png.JPEG"));
  Bytes png = read_file(dir / "really_a_png.JPEG");
  png.resize(png.size() / 2);  // the IDAT chunk now runs past the end of the file
  write_file(dir / "cut.png", png);
  Bytes out_cut(32 * 32 * 3);
  expect_error([&] { decode_resize_center_crop(dir / "cut.png", {40, 32}, out_cut.data()); },
               {"cut.png", "past the end", "truncated"});
  // cut inside the IEND chunk: the file ends in a chunk fragment (found by fuzzing with an empty IDAT)
  Bytes cut_iend = read_file(dir / "really_a_png.JPEG");
  cut_iend.resize(cut_iend.size() - 6);
  write_file(dir / "cut_iend.png", cut_iend);
  expect_error([&] { decode_resize_center_crop(dir / "cut_iend.png", {40, 32}, out_cut.data()); },
               {"cut_iend.png", "cut short", "truncated"});
  // bytes after IEND are not the image's: ignored, as by every PNG reader
  Bytes trailing = read_file(dir / "really_a_png.JPEG");
  trailing.insert(trailing.end(), {0, 0, 0, 9, 'j', 'u', 'n'});
  write_file(dir / "trailing.png", trailing);
  Bytes c(32 * 32 * 3);
  decode_resize_center_crop(dir / "trailing.png", {40, 32}, c.data());
  EXPECT_EQ(c, b);
  write_text(dir / "neither.jpg", "GIF89a not supported here");
  EXPECT_FALSE(image_header_readable(dir / "neither.jpg"));
  Bytes out(32 * 32 * 3);
  expect_error([&] { decode_resize_center_crop(dir / "neither.jpg", {40, 32}, out.data()); },
               {"neither.jpg", "neither a JPEG nor a readable PNG"});
}

TEST(DataJpeg, TruncatedCorruptAndOversizedFilesAreErrorsNamingTheFile) {
  const int w = 64, h = 48;
  Bytes pixels(w * h * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 31 % 251);
  const Bytes jpeg = compress(w, h, TJPF_RGB, TJSAMP_420, pixels);
  const Bytes truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 2 / 3));
  expect_error([&] { decode(truncated, "cut.jpg"); }, {"cut.jpg", "truncated JPEG"});
  Bytes garbled = jpeg;
  for (size_t i = 0; i < 40; ++i) garbled[i + 2] = 0xAA;  // the header's markers
  expect_error([&] { decode(garbled, "garbled.jpg"); }, {"garbled.jpg", "cannot decode image"});
  // 65,000 x 65,000 in the frame header of a 64 x 48 file: refused before anything is allocated.
  expect_error([&] { decode(with_frame_size(jpeg, 65000, 65000), "huge.jpg"); },
               {"huge.jpg", "65000x65000", "beyond what this reader accepts"});
  expect_error([&] { decode(with_frame_size(jpeg, 30000, 10), "thin.jpg"); }, {"thin.jpg", "aspect ratio"});
  expect_error([&] { decode(with_frame_size(jpeg, 0, 48), "zero.jpg"); }, {"zero.jpg"});
}

TEST(DataJpeg, LargeJpegsDecodeInTheDctDomainNeverBelowTheTarget) {
  const int w = 1200, h = 900;
  Bytes pixels(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        pixels[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>(128 + 100 * std::sin(x / 37.0 + c) * std::cos(y / 53.0));
  const Bytes jpeg = compress(w, h, TJPF_RGB, TJSAMP_420, pixels);
  // 1/4 would give 300 x 225 (< 256): 1/2 it is; 100 needs no more than 1/8 (150 x 113)
  EXPECT_EQ(decode_jpeg_rgb(jpeg.data(), jpeg.size(), "big.jpg", 256).size.width, 600);
  EXPECT_EQ(decode_jpeg_rgb(jpeg.data(), jpeg.size(), "big.jpg", 256).size.height, 450);
  EXPECT_EQ(decode_jpeg_rgb(jpeg.data(), jpeg.size(), "big.jpg", 100).size.width, 150);
  EXPECT_EQ(decode_jpeg_rgb(jpeg.data(), jpeg.size(), "big.jpg", 0).size.width, 1200);
  EXPECT_EQ(decode_jpeg_rgb(jpeg.data(), jpeg.size(), "big.jpg", 2000).size.width, 1200);  // never upscales
  TempDir dir;
  write_file(dir / "big.jpg", jpeg);
  Bytes scaled(224 * 224 * 3), full(224 * 224 * 3);
  decode_resize_center_crop(dir / "big.jpg", {256, 224, true}, scaled.data());
  decode_resize_center_crop(dir / "big.jpg", {256, 224, false}, full.data());
  double total = 0;
  for (size_t i = 0; i < scaled.size(); ++i) total += std::abs(int{scaled[i]} - int{full[i]});
  EXPECT_LT(total / scaled.size(), 2.0);  // the same picture: a DCT-domain reduction instead of a bilinear one
  EXPECT_GT(total, 0);                    // but not the same bytes (torchvision's are those of the full decode)
}

TEST(DataJpeg, DecodingOnlyTheNeededPixelsGivesTheFullDecodesPixels) {
  // Every chroma subsampling, baseline and progressive, CMYK, sizes that are no multiple of a block, and
  // windows at every edge and inside: what is skipped (rows above and below, columns left and right) must
  // not change a needed pixel, chroma upsampling at the window's edges included.
  const int w = 203, h = 157;
  Bytes rgb(static_cast<size_t>(w) * h * 3), cmyk(static_cast<size_t>(w) * h * 4);
  uint32_t noise = 12345;
  for (size_t p = 0; p < static_cast<size_t>(w) * h; ++p) {
    const double x = static_cast<double>(p % w), y = static_cast<double>(p / w);
    for (int c = 0; c < 4; ++c) {
      noise = noise * 1664525u + 1013904223u;
      const double v = 128 + 90 * std::sin(x / (5.0 + 3 * c) + y / 7.0) + static_cast<double>(noise >> 28);
      (c < 3 ? rgb[p * 3 + c] : cmyk[p * 4 + c]) = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      if (c < 3) cmyk[p * 4 + c] = rgb[p * 3 + c];
    }
  }
  const std::vector<PixelRect> windows = {{0, 0, w, h},       {0, 0, 1, 1},       {w - 1, h - 1, 1, 1},
                                          {17, 19, 150, 120}, {31, 40, 64, 33},   {0, 50, 17, 107},
                                          {120, 0, 83, 9},    {45, 33, 1, 90},    {8, 16, 16, 16}};
  for (const int flags : {0, TJFLAG_PROGRESSIVE})
    for (const int sampling : {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440, TJSAMP_411, TJSAMP_GRAY}) {
      const Bytes jpeg = compress(w, h, TJPF_RGB, sampling, rgb, flags, 90);
      const std::string what = "sampling " + std::to_string(sampling) + (flags ? " progressive" : "");
      for (const PixelRect& r : windows) expect_partial_equals_full(jpeg, 0, r, what);
      // at half scale (102 x 79)
      for (const PixelRect& r : {PixelRect{10, 9, 60, 50}, PixelRect{0, 70, 102, 9}})
        expect_partial_equals_full(jpeg, 60, r, what + " at 1/2");
    }
  const Bytes cmyk_jpeg = compress(w, h, TJPF_CMYK, TJSAMP_420, cmyk, 0, 90);
  for (const PixelRect& r : windows) expect_partial_equals_full(cmyk_jpeg, 0, r, "CMYK");

  // And less is decoded: the held part of a centre window of a 4:2:0 image is the window with one 16-pixel
  // block more on each side, its left and top edges moved back to block edges, its bottom to one.
  const Bytes jpeg = compress(w, h, TJPF_RGB, TJSAMP_420, rgb);
  const DecodedImage part =
      decode_jpeg_rgb(jpeg.data(), jpeg.size(), "t.jpg", 0, {}, [](ImageSize) { return PixelRect{50, 50, 100, 50}; });
  EXPECT_EQ(part.held.x0, 32);
  EXPECT_EQ(part.held.y0, 32);
  EXPECT_EQ(part.held.width, 150 + 16 - 32);
  EXPECT_EQ(part.held.height, 128 - 32);
  // A file truncated in rows the window does not need is still an error: the whole file is read.
  const Bytes truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 9 / 10));
  expect_error(
      [&] {
        decode_jpeg_rgb(truncated.data(), truncated.size(), "cut.jpg", 0, {},
                        [](ImageSize) { return PixelRect{0, 0, 16, 16}; });
      },
      {"cut.jpg", "truncated JPEG"});
}

TEST(DataJpeg, TheSamplesCentreCropsDecodeExactlyFromTheirBlocks) {
  if (!fs::exists(kSample)) GTEST_SKIP() << "no " << kSample;
  // decode_resize_center_crop decodes only the blocks under the crop: 300 images of the sample (of 1,073;
  // the test takes ~1 s) give the bytes of a full decode followed by the same resize and crop.
  int images = 0;
  const ResizeCrop prep;
  for (const auto& entry : fs::recursive_directory_iterator(kSample)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".JPEG") continue;
    if (images == 300) break;
    const Bytes bytes = read_file(entry.path());
    const DecodedImage full = decode_jpeg_rgb(bytes.data(), bytes.size(), entry.path().string(), prep.resize_shorter);
    const int64_t w = full.size.width, h = full.size.height, s = prep.resize_shorter;
    const int64_t rw = w <= h ? s : static_cast<int64_t>(s * static_cast<double>(w) / h);
    const int64_t rh = w <= h ? static_cast<int64_t>(s * static_cast<double>(h) / w) : s;
    Bytes expected(224 * 224 * 3), ours(224 * 224 * 3);
    resize_bilinear_window(full.rgb.data(), w, h, 3, rw, rh, static_cast<int64_t>(std::nearbyint((rw - 224) / 2.0)),
                           static_cast<int64_t>(std::nearbyint((rh - 224) / 2.0)), 224, 224, expected.data());
    decode_resize_center_crop(entry.path(), prep, ours.data());
    EXPECT_TRUE(ours == expected) << entry.path();
    ++images;
  }
  EXPECT_GT(images, 100);
}
