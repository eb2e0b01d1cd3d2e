#include "tests/test_data_fixtures.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>

// stb_image_write's functions stay private to this file, so no other test can collide with them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace collapse::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  path_ = fs::temp_directory_path() /
          ("collapse_data_" + test + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

void write_text(const fs::path& path, const std::string& text) { write_file(path, Bytes(text.begin(), text.end())); }

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

namespace {
Bytes deflate_with(const Bytes& data, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, data.size()) + 32);
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put_u32(Bytes& b, uint32_t v, bool big_endian) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * (big_endian ? 3 - i : i))));
}
}  // namespace

Bytes gzip(const Bytes& data) { return deflate_with(data, 15 + 16); }
Bytes zlib_compress(const Bytes& data) { return deflate_with(data, 15); }

uint8_t pattern_pixel(int64_t i, int64_t y, int64_t x, int64_t c) {
  return static_cast<uint8_t>((i * 37 + y * 11 + x * 3 + c * 101) % 251);
}

Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& values) {
  Bytes b = {0, 0, 8, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_u32(b, d, /*big_endian=*/true);
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

Bytes idx_images(int64_t n, int64_t h, int64_t w) {
  Bytes values;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) values.push_back(pattern_pixel(i, y, x, 0));
  return idx_file({static_cast<uint32_t>(n), static_cast<uint32_t>(h), static_cast<uint32_t>(w)}, values);
}

Bytes idx_labels(const Bytes& labels) { return idx_file({static_cast<uint32_t>(labels.size())}, labels); }

Bytes cifar_records(const std::vector<Bytes>& labels_per_record, int64_t first_image) {
  Bytes b;
  for (size_t r = 0; r < labels_per_record.size(); ++r) {
    b.insert(b.end(), labels_per_record[r].begin(), labels_per_record[r].end());
    for (int64_t c = 0; c < 3; ++c)  // planes R, G, B, each row-major
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) b.push_back(pattern_pixel(first_image + static_cast<int64_t>(r), y, x, c));
  }
  return b;
}

Bytes stl10_images(int64_t n) {
  Bytes b;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t x = 0; x < 96; ++x)  // column by column
        for (int64_t y = 0; y < 96; ++y) b.push_back(pattern_pixel(i, y, x, c));
  return b;
}

namespace {
size_t mat_type_size(uint32_t type) {
  switch (type) {
    case 1: case 2: return 1;
    case 3: case 4: return 2;
    case 5: case 6: case 7: return 4;
    default: return 8;
  }
}

// One data element: small format when the data fits in 4 bytes, else a full tag with 8-byte padding.
void put_element(Bytes& b, uint32_t type, const Bytes& host_data, bool big_endian) {
  Bytes data = host_data;
  const size_t elem = mat_type_size(type);
  if (big_endian)
    for (size_t i = 0; i + elem <= data.size(); i += elem) std::reverse(data.begin() + i, data.begin() + i + elem);
  if (data.size() <= 4) {
    put_u32(b, static_cast<uint32_t>(data.size()) << 16 | type, big_endian);
    data.resize(4, 0);
    b.insert(b.end(), data.begin(), data.end());
    return;
  }
  put_u32(b, type, big_endian);
  put_u32(b, static_cast<uint32_t>(data.size()), big_endian);
  b.insert(b.end(), data.begin(), data.end());
  b.resize(b.size() + (8 - data.size() % 8) % 8, 0);
}

template <class T>
Bytes host_bytes(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
}  // namespace

Bytes mat_v5_file(const std::vector<MatArray>& arrays, bool compressed, bool big_endian) {
  std::string text = "MATLAB 5.0 MAT-file, Platform: collapse tests, Created on: Thu Jan  1 00:00:00 1970";
  // 116 bytes of text, 8 bytes of subsystem data offset (zero), the version 0x0100 and the endian mark.
  Bytes b(128, 0);
  std::copy(text.begin(), text.end(), b.begin());
  std::fill(b.begin() + static_cast<std::ptrdiff_t>(text.size()), b.begin() + 116, ' ');
  const Bytes tail = big_endian ? Bytes{0x01, 0x00, 'M', 'I'} : Bytes{0x00, 0x01, 'I', 'M'};
  std::copy(tail.begin(), tail.end(), b.begin() + 124);
  for (const MatArray& a : arrays) {
    Bytes payload;
    put_element(payload, 6, host_bytes(std::vector<uint32_t>{a.array_class, 0}), big_endian);  // miUINT32 flags
    put_element(payload, 5, host_bytes(a.dims), big_endian);                                  // miINT32 dims
    put_element(payload, 1, Bytes(a.name.begin(), a.name.end()), big_endian);                 // miINT8 name
    put_element(payload, a.stored_type, a.data, big_endian);
    Bytes matrix;
    put_u32(matrix, 14, big_endian);  // miMATRIX
    put_u32(matrix, static_cast<uint32_t>(payload.size()), big_endian);
    matrix.insert(matrix.end(), payload.begin(), payload.end());
    if (compressed) {
      const Bytes z = zlib_compress(matrix);
      put_u32(b, 15, big_endian);  // miCOMPRESSED
      put_u32(b, static_cast<uint32_t>(z.size()), big_endian);
      b.insert(b.end(), z.begin(), z.end());
    } else {
      b.insert(b.end(), matrix.begin(), matrix.end());
    }
  }
  return b;
}

MatArray svhn_x(int64_t n) {
  Bytes data;  // X(row, col, ch, n) column-major: row fastest, then col, then channel, then image
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t x = 0; x < 32; ++x)
        for (int64_t y = 0; y < 32; ++y) data.push_back(pattern_pixel(i, y, x, c));
  return {"X", /*mxUINT8*/ 9, {32, 32, 3, static_cast<int32_t>(n)}, /*miUINT8*/ 2, data};
}

MatArray svhn_y(const std::vector<double>& labels, bool stored_as_uint8) {
  const int32_t n = static_cast<int32_t>(labels.size());
  if (stored_as_uint8) {
    Bytes data;
    for (double v : labels) data.push_back(static_cast<uint8_t>(v));
    return {"y", /*mxDOUBLE*/ 6, {n, 1}, /*miUINT8*/ 2, data};
  }
  return {"y", /*mxDOUBLE*/ 6, {n, 1}, /*miDOUBLE*/ 9, host_bytes(labels)};
}

void write_png(const fs::path& path, int w, int h, int comp, const Bytes& pixels) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, comp, pixels.data(), w * comp)) << path;
}

void write_jpeg(const fs::path& path, int w, int h, int comp, const Bytes& pixels) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(stbi_write_jpg(path.c_str(), w, h, comp, pixels.data(), 95)) << path;
}

void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected collapse::Error";
  } catch (const collapse::Error& e) {
    const std::string msg = e.what();
    for (const std::string& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

}  // namespace collapse::testing
