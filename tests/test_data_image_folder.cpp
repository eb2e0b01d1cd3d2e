// ImageNet folders: the real sample in shared/datasets/imagenet-sample (class indices from synsets.txt,
// grayscale and tiny JPEGs), and generated folders for ordering, geometry and undecodable files.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/rng.h"
#include "data/bilinear_resize.h"
#include "data/channel_stats.h"
#include "data/image_decode.h"
#include "data/image_folder.h"
#include "data/image_folder_dataset.h"
#include "data/normalized_dataset.h"
#include "data/registry.h"
#include "tests/test_data_fixtures.h"

namespace collapse {
namespace {

using namespace collapse::testing;
namespace fs = std::filesystem;

const fs::path kSample = kSharedDatasets / "imagenet-sample";

int64_t entry_of(const ImageFolderIndex& index, const std::string& relative) {
  for (size_t i = 0; i < index.files.size(); ++i)
    if (index.files[i] == kSample / relative) return static_cast<int64_t>(i);
  ADD_FAILURE() << relative << " not indexed";
  return 0;
}

// An RGB image of w x h whose pixel (x, y) is given by f(x, y, c).
template <class F>
Bytes rgb_image(int w, int h, F f) {
  Bytes b;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) b.push_back(static_cast<uint8_t>(f(x, y, c)));
  return b;
}

// Values worked out by hand from Pillow's algorithm (precompute_coeffs with the bilinear filter).
TEST(DataImageFolder, BilinearResizeFollowsPillow) {
  // Shrinking 4 -> 2: the support widens to 2 input pixels each side, weights (3, 3, 1) / 7 and (1, 3, 3) / 7.
  const Bytes row = {0, 100, 200, 250};
  Bytes out(2);
  resize_bilinear_window(row.data(), 4, 1, 1, 2, 1, 0, 0, 2, 1, out.data());
  EXPECT_EQ(out, (Bytes{71, 207}));
  // Growing 2 -> 4: plain linear interpolation between pixel centres, edges clamped.
  const Bytes two = {0, 100};
  Bytes four(4);
  resize_bilinear_window(two.data(), 2, 1, 1, 4, 1, 0, 0, 4, 1, four.data());
  EXPECT_EQ(four, (Bytes{0, 25, 75, 100}));
  // A window equals the same region of the full resize (here along both axes, 3 channels).
  Bytes image;
  for (int i = 0; i < 37 * 23 * 3; ++i) image.push_back(static_cast<uint8_t>(i * 7 % 256));
  Bytes full(29 * 17 * 3), window(11 * 5 * 3);
  resize_bilinear_window(image.data(), 37, 23, 3, 29, 17, 0, 0, 29, 17, full.data());
  resize_bilinear_window(image.data(), 37, 23, 3, 29, 17, 9, 6, 11, 5, window.data());
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 11 * 3; ++x) ASSERT_EQ(window[(y * 11) * 3 + x], full[((y + 6) * 29 + 9) * 3 + x]);
}

// Pillow's bilinear resample written plainly (ImagingResample: precompute_coeffs, normalize_coeffs_8bpc,
// the horizontal pass then the vertical one, each rounding to 8 bits), the oracle of the optimised passes.
Bytes pillow_bilinear(const Bytes& in, int w, int h, int c, int out_w, int out_h) {
  constexpr int kBits = 22;
  struct Axis {
    std::vector<int> lo, n;
    std::vector<std::vector<int32_t>> k;
  };
  const auto taps = [](int in_size, int out_size) {
    const double scale = double(in_size) / out_size, fs = std::max(scale, 1.0), support = fs;
    Axis a;
    for (int o = 0; o < out_size; ++o) {
      const double center = (o + 0.5) * scale, ss = 1.0 / fs;
      const int lo = std::max(int(center - support + 0.5), 0), hi = std::min(int(center + support + 0.5), in_size);
      std::vector<double> k;
      double total = 0;
      for (int i = lo; i < hi; ++i) {
        const double x = std::abs((i - center + 0.5) * ss);
        k.push_back(x < 1 ? 1 - x : 0);
        total += k.back();
      }
      std::vector<int32_t> q;
      for (double v : k) {
        v = total != 0 ? v / total : 0;
        q.push_back(int32_t(v < 0 ? -0.5 + v * (1 << kBits) : 0.5 + v * (1 << kBits)));
      }
      a.lo.push_back(lo);
      a.n.push_back(hi - lo);
      a.k.push_back(q);
    }
    return a;
  };
  const auto clip = [](int32_t v) { return uint8_t(v >= (1 << kBits << 8) ? 255 : v <= 0 ? 0 : v >> kBits); };
  const Axis ax = taps(w, out_w), ay = taps(h, out_h);
  Bytes mid(size_t(h) * out_w * c), out(size_t(out_h) * out_w * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < out_w; ++x)
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = 1 << (kBits - 1);
        for (int i = 0; i < ax.n[x]; ++i) acc += in[(size_t(y) * w + ax.lo[x] + i) * c + ch] * ax.k[x][i];
        mid[(size_t(y) * out_w + x) * c + ch] = clip(acc);
      }
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w * c; ++x) {
      int32_t acc = 1 << (kBits - 1);
      for (int i = 0; i < ay.n[y]; ++i) acc += mid[(size_t(ay.lo[y]) + i) * out_w * c + x] * ay.k[y][i];
      out[size_t(y) * out_w * c + x] = clip(acc);
    }
  return out;
}

// The optimised resize (a window only, the RGB horizontal loop, the vertical pass a tap at a time over rows)
// equals Pillow's plain algorithm byte for byte: RGB and gray, shrinking by up to 3.5x (2x exactly too) and
// growing, whole and windowed (the window touching the right and bottom
// edges), from the whole image or from only the pixels the window reads (what a JPEG decoder hands it).
TEST(DataImageFolder, BilinearResizeEqualsPillowsPlainAlgorithm) {
  Generator gen(77);
  for (int c : {3, 1})
    for (const std::array<int, 4>& sizes : {std::array{37, 23, 29, 17}, {500, 375, 341, 256}, {375, 500, 256, 341},
                                            {90, 60, 26, 17}, {12, 9, 40, 30}, {7, 5, 3, 2}, {64, 48, 32, 24}}) {
      // plain variables, not a structured binding: clang 14 (the sanitizer build) cannot capture those
      const int w = sizes[0], h = sizes[1], out_w = sizes[2], out_h = sizes[3];
      Bytes image(size_t(w) * h * c);
      for (auto& b : image) b = uint8_t(gen.next_u64() % 256);
      const Bytes expected = pillow_bilinear(image, w, h, c, out_w, out_h);
      Bytes full(size_t(out_w) * out_h * c);
      resize_bilinear_window(image.data(), w, h, c, out_w, out_h, 0, 0, out_w, out_h, full.data());
      ASSERT_EQ(full, expected) << w << "x" << h << " -> " << out_w << "x" << out_h << ", " << c << " channels";
      const int ww = std::max(out_w / 2, 1), wh = std::max(out_h / 2, 1), x0 = out_w - ww, y0 = out_h - wh;
      Bytes window(size_t(ww) * wh * c);
      resize_bilinear_window(image.data(), w, h, c, out_w, out_h, x0, y0, ww, wh, window.data());
      for (int y = 0; y < wh; ++y)
        for (int x = 0; x < ww * c; ++x)
          ASSERT_EQ(window[size_t(y) * ww * c + x], expected[(size_t(y + y0) * out_w + x0) * c + x])
              << w << "x" << h << " window at " << x0 << "," << y0;
      const PixelRect read = resize_bilinear_source(w, h, out_w, out_h, {x0, y0, ww, wh});
      Bytes held;
      for (int64_t y = read.y0; y < read.y0 + read.height; ++y)
        held.insert(held.end(), image.begin() + (y * w + read.x0) * c,
                    image.begin() + (y * w + read.x0 + read.width) * c);
      Bytes from_held(window.size());
      resize_bilinear_window(held.data(), read, w, h, c, out_w, out_h, {x0, y0, ww, wh}, from_held.data());
      ASSERT_EQ(from_held, window) << w << "x" << h << " from columns " << read.x0 << "+" << read.width;
      if (read.x0 > 0)  // one column less than the window reads: refused
        expect_error(
            [&] {
              resize_bilinear_window(held.data(), {read.x0 + 1, read.y0, read.width - 1, read.height}, w, h, c, out_w,
                                     out_h, {x0, y0, ww, wh}, from_held.data());
            },
            {"the window reads columns"});
    }
}

TEST(DataImageFolder, SampleIndexUsesSynsetLineNumbers) {
  const ImageFolderIndex train = index_image_folder(kSample, Split::train);
  const ImageFolderIndex val = index_image_folder(kSample, Split::test);
  EXPECT_EQ(train.num_classes, 1000);
  EXPECT_EQ(train.files.size(), 300u);
  EXPECT_EQ(val.files.size(), 773u);
  EXPECT_EQ(std::set<int64_t>(val.labels.begin(), val.labels.end()).size(), 673u);
  const std::vector<int64_t> counts = class_counts(train.labels, 1000);
  for (int64_t c : {0, 217, 482, 491, 497, 566, 569, 571, 574, 701}) EXPECT_EQ(counts[c], 30) << c;
  EXPECT_EQ(train.class_names[0], "tench");
  EXPECT_EQ(train.class_names[701], "parachute");
  EXPECT_EQ(train.wnids[0], "n01440764");

  // Every file's class agrees with MANIFEST.tsv's class_index column.
  std::ifstream manifest(kSample / "MANIFEST.tsv");
  std::string line;
  std::getline(manifest, line);
  std::map<fs::path, int64_t> expected;
  while (std::getline(manifest, line)) {
    std::istringstream row(line);
    std::string field;
    std::vector<std::string> fields;
    while (std::getline(row, field, '\t')) fields.push_back(field);
    expected[kSample / fields[0]] = std::stoll(fields[6]);
  }
  ASSERT_EQ(expected.size(), 1073u);
  for (const ImageFolderIndex* index : {&train, &val})
    for (size_t i = 0; i < index->files.size(); ++i) ASSERT_EQ(index->labels[i], expected.at(index->files[i]));
}

TEST(DataImageFolder, SampleDecodesGrayscaleAndTinyImages) {
  const ImageFolderIndex train = index_image_folder(kSample, Split::train);
  const ImageFolderIndex val = index_image_folder(kSample, Split::test);
  const int64_t gray = entry_of(train, "train/n02979186/n02979186_4266.JPEG");  // 426x320, 1 channel
  const RawDataset a = read_image_folder(select_entries(train, {gray, gray + 1}), {});
  ASSERT_EQ(a.n, 2);
  EXPECT_EQ(a.height, 224);
  EXPECT_EQ(a.width, 224);
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.labels[0], 482);
  int64_t gray_differences = 0, colour_differences = 0;
  for (int64_t p = 0; p < 224 * 224; ++p) {
    gray_differences += a.image(0)[p * 3] != a.image(0)[p * 3 + 1] || a.image(0)[p * 3] != a.image(0)[p * 3 + 2];
    colour_differences += a.image(1)[p * 3] != a.image(1)[p * 3 + 2];
  }
  EXPECT_EQ(gray_differences, 0);  // grayscale is replicated into R, G and B
  EXPECT_GT(colour_differences, 0);
  // 75x56 and 68x121 images are upscaled to a shorter side of 256 before the crop.
  const RawDataset tiny = read_image_folder(
      select_entries(val, {entry_of(val, "val/n01871265/n01871265_tusker.JPEG"),
                           entry_of(val, "val/n03866082/n03866082_overskirt.JPEG")}),
      {});
  EXPECT_EQ(tiny.n, 2);
  EXPECT_EQ(tiny.labels, (std::vector<int64_t>{101, 689}));
}

TEST(DataImageFolder, GeneratedFolderSortedClassesAndCropGeometry) {
  TempDir root;
  // No synsets.txt: classes are the sorted train folders.
  // 320x256: the shorter side is already 256, so the resize is the identity and the centre crop starts
  // at x = round((320 - 224) / 2) = 48, y = 16.
  const auto pattern = [](int x, int y, int c) { return (x + 3 * y + 50 * c) % 256; };
  write_png(root / "train/n002/b.png", 320, 256, 3, rgb_image(320, 256, pattern));
  write_png(root / "train/n002/a.PNG", 512, 300, 3, rgb_image(512, 300, [](int, int, int c) { return 10 + 20 * c; }));
  write_png(root / "train/n001/g.png", 40, 50, 1, Bytes(40 * 50, 77));  // grayscale, upscaled
  write_text(root / "train/n001/notes.txt", "not an image");          // ignored
  const ImageFolderIndex index = index_image_folder(root.path(), Split::train);
  EXPECT_EQ(index.wnids, (std::vector<std::string>{"n001", "n002"}));
  ASSERT_EQ(index.files.size(), 3u);
  EXPECT_EQ(index.labels, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(index.files[1].filename(), "a.PNG");  // sorted by name within the class

  const RawDataset ds = read_image_folder(index, {});
  for (int64_t p = 0; p < 224 * 224 * 3; ++p) ASSERT_EQ(ds.image(0)[p], 77);
  for (int64_t p = 0; p < 224 * 224; ++p)  // a uniform image stays uniform through a downscale
    for (int c = 0; c < 3; ++c) ASSERT_EQ(ds.image(1)[p * 3 + c], 10 + 20 * c);
  for (int y : {0, 100, 223})
    for (int x : {0, 57, 223})
      for (int c = 0; c < 3; ++c) EXPECT_EQ(ds.image(2)[(y * 224 + x) * 3 + c], pattern(x + 48, y + 16, c));
}

TEST(DataImageFolder, UndecodableFileIsNamedOrSkipped) {
  TempDir root;
  write_png(root / "train/n1/good.png", 8, 8, 3, Bytes(8 * 8 * 3, 5));
  write_text(root / "train/n1/broken.JPEG", "\xFF\xD8\xFF\xE0 this is not really a JPEG");
  const ImageFolderIndex index = index_image_folder(root.path(), Split::train);
  ASSERT_EQ(index.files.size(), 2u);
  expect_error([&] { read_image_folder(index, {}); }, {"cannot decode image", "broken.JPEG"});
  ::testing::internal::CaptureStderr();
  const RawDataset ds = read_image_folder(index, {ResizeCrop{}, /*skip_undecodable=*/true});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ds.n, 1);
  EXPECT_NE(err.find("skipping"), std::string::npos);
  EXPECT_NE(err.find("broken.JPEG"), std::string::npos);
  // The lazy dataset fails on the bad file when the loader asks for it.
  ImageFolderIndex lazy_index = index;
  const ImageFolderDataset lazy(lazy_index, ChannelStats{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}});
  std::vector<float> out(224 * 224 * 3);
  expect_error([&] { lazy.write_example(0, out.data()); }, {"broken.JPEG"});
}

// A tiny file whose header promises an absurd shape (a 1 x 100,000 strip: resizing its shorter side to 256
// would make it 25.6 million pixels long) is refused from its header, naming the file and the shape.
TEST(DataImageFolder, AbsurdImageDimensionsAreRefusedFromTheHeader) {
  TempDir root;
  write_png(root / "strip.png", 1, 100000, 1, Bytes(100000, 7));
  ASSERT_LT(fs::file_size(root / "strip.png"), 4000u);
  std::vector<uint8_t> out(224 * 224 * 3);
  expect_error([&] { decode_resize_center_crop(root / "strip.png", ResizeCrop{}, out.data()); },
               {"strip.png", "1x100000 pixels is beyond what this reader accepts"});
}

TEST(DataImageFolder, FlatValidationFolderIsExplained) {
  TempDir root;
  write_png(root / "train/n1/a.png", 4, 4, 3, Bytes(48, 1));
  write_png(root / "val/ILSVRC2012_val_00000001.JPEG", 4, 4, 3, Bytes(48, 1));
  expect_error([&] { index_image_folder(root.path(), Split::test); },
               {"ILSVRC2012_val_00000001.JPEG", "lies directly in the split folder"});
}

TEST(DataImageFolder, FolderNotInSynsetsIsAnError) {
  TempDir root;
  write_text(root / "synsets.txt", "n01 first, one\nn02 second\n");
  write_png(root / "train/n03/a.png", 4, 4, 3, Bytes(48, 1));
  expect_error([&] { index_image_folder(root.path(), Split::train); }, {"n03", "not a class listed in synsets.txt"});
}

TEST(DataImageFolder, LazyDatasetMatchesEagerNormalisation) {
  TempDir root;
  write_png(root / "train/n1/a.png", 300, 260, 3, rgb_image(300, 260, [](int x, int y, int c) { return x * y + c; }));
  write_png(root / "train/n2/b.png", 260, 300, 3, rgb_image(260, 300, [](int x, int y, int c) { return x + y * c; }));
  ImageFolderIndex index = index_image_folder(root.path(), Split::train);
  const RawDataset raw = read_image_folder(index, {});
  const ChannelStats eager_stats = compute_channel_stats(raw);
  const ChannelStats lazy_stats = image_folder_channel_stats(index, ResizeCrop{}, false);
  EXPECT_EQ(lazy_stats.mean, eager_stats.mean);
  EXPECT_EQ(lazy_stats.std, eager_stats.std);
  const NormalizedDataset eager(raw, eager_stats, {3, 224, 224});
  const ImageFolderDataset lazy(index, lazy_stats);
  EXPECT_EQ(lazy.image_shape(), eager.image_shape());
  std::vector<float> out(224 * 224 * 3);
  for (int64_t i = 0; i < 2; ++i) {
    lazy.write_example(i, out.data());
    EXPECT_EQ(std::vector<float>(eager.example(i), eager.example(i) + out.size()), out);
    EXPECT_EQ(lazy.label(i), i);
  }
}

TEST(DataImageFolder, LoadDatasetSubsamplesBeforeDecoding) {
  TempDir root;
  write_text(root / "imagenet/synsets.txt", "nA alpha, first\nnB beta\n");
  for (const char* wnid : {"nA", "nB"})
    for (int k = 0; k < 4; ++k) {
      const std::string file = std::string("imagenet/train/") + wnid + "/" + std::to_string(k) + ".png";
      write_png(root / file, 16, 12, 3, rgb_image(16, 12, [k](int x, int y, int c) { return 40 * k + x + y + c; }));
    }
  write_png(root / "imagenet/val/nB/v.png", 9, 9, 3, Bytes(9 * 9 * 3, 200));
  LoadOptions options;
  options.train_per_class = 3;
  options.seed = 7;
  options.image_prep = {32, 24};  // small crops keep the test fast
  options.eager_bytes = 0;        // decode on demand however small the subset: the lazy route under test
  ::testing::internal::CaptureStderr();  // one class has no validation image: a warning
  const LoadedDataset lazy = load_dataset("imagenet", root.path(), options);
  options.lazy_images = false;
  const LoadedDataset eager = load_dataset("imagenet", root.path(), options);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("1 of 2 classes have no test example"), std::string::npos) << err;
  EXPECT_EQ(lazy.info.image, (ImageShape{3, 24, 24}));
  EXPECT_EQ(lazy.class_names, (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(lazy.train_class_counts, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(lazy.train->size(), 6);
  EXPECT_EQ(lazy.test->size(), 1);
  EXPECT_EQ(lazy.stats.mean, eager.stats.mean);
  std::vector<float> a(24 * 24 * 3), b(24 * 24 * 3);
  for (int64_t i = 0; i < 6; ++i) {
    lazy.train->write_example(i, a.data());
    eager.train->write_example(i, b.data());
    EXPECT_EQ(a, b);
  }
}

// Imagenette-style copies: synsets.txt lists every class but train/ holds a few. The run is the problem over
// the trained classes (labels 0..K-1 in synset order); test images of the other classes are left out, with
// a warning that says so, instead of an error about the empty classes or a test set no model could fit.
TEST(DataImageFolder, PartialCopyTrainsOnTheClassesItHas) {
  TempDir root;
  write_text(root / "imagenet/synsets.txt", "nA alpha\nnB beta\nnC gamma\n");
  for (const char* wnid : {"nA", "nC"})
    for (int k = 0; k < 2; ++k)
      write_png(root / (std::string("imagenet/train/") + wnid + "/" + std::to_string(k) + ".png"), 8, 8, 3,
                Bytes(8 * 8 * 3, static_cast<uint8_t>(50 + 10 * k)));
  for (const char* wnid : {"nA", "nB", "nC"})
    write_png(root / (std::string("imagenet/val/") + wnid + "/v.png"), 8, 8, 3, Bytes(8 * 8 * 3, 90));
  LoadOptions options;
  options.train_per_class = 0;
  options.image_prep = {8, 8};
  ::testing::internal::CaptureStderr();
  const LoadedDataset data = load_dataset("imagenet", root.path(), options);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("2 of 3 classes have training images"), std::string::npos) << err;
  EXPECT_NE(err.find("leaving out 1 test images"), std::string::npos) << err;
  EXPECT_EQ(data.info.num_classes, 2);
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"alpha", "gamma"}));
  EXPECT_EQ(data.train_class_counts, (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(data.test->size(), 2);
  EXPECT_EQ(data.test->label(0), 0);
  EXPECT_EQ(data.test->label(1), 1);
}

TEST(DataImageFolder, RestrictToClassesRemapsAndRejectsBadLists) {
  ImageFolderIndex index;
  index.num_classes = 4;
  index.wnids = {"a", "b", "c", "d"};
  index.class_names = {"A", "B", "C", "D"};
  index.files = {"a0", "b0", "d0", "d1"};
  index.labels = {0, 1, 3, 3};
  EXPECT_EQ(classes_present(index), (std::vector<int64_t>{0, 1, 3}));
  ImageFolderIndex copy = index;
  EXPECT_EQ(restrict_to_classes(copy, {1, 3}), 1);
  EXPECT_EQ(copy.num_classes, 2);
  EXPECT_EQ(copy.labels, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(copy.wnids, (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(copy.files.front(), fs::path("b0"));
  copy = index;
  expect_error([&] { restrict_to_classes(copy, {3, 1}); }, {"ascending"});
  expect_error([&] { restrict_to_classes(copy, {4}); }, {"[0, 4)"});
}

}  // namespace
}  // namespace collapse
