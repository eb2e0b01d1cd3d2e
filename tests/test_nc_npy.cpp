// .npy reading and writing: round trips for every supported dtype, NumPy's exact header layout, and a
// clear error (naming the file) for every kind of unsupported or damaged file.
#include <gtest/gtest.h>

#include <cmath>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "nc/npy.h"

namespace collapse::nc {
namespace {

namespace fs = std::filesystem;

class NcNpy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("collapse_npy_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A hand-made file: magic, version, the header (padded to 64 bytes with NumPy's rule unless
  // `pad` is false), then `data`.
  std::string write_raw(const std::string& name, const std::string& header, const std::string& data, int major = 1,
                        const std::string& magic = "\x93NUMPY") const {
    const size_t length_bytes = major == 1 ? 2 : 4;
    std::string text = header;
    const size_t unpadded = 6 + 2 + length_bytes + text.size() + 1;
    text.append((64 - unpadded % 64) % 64, ' ');
    text += '\n';
    std::string bytes = magic;
    bytes += static_cast<char>(major);
    bytes += '\0';
    for (size_t i = 0; i < length_bytes; ++i) bytes += static_cast<char>((text.size() >> (8 * i)) & 0xff);
    bytes += text + data;
    std::ofstream(path(name), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path(name);
  }

  static std::string read_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The read throws an Error whose message names the file and contains `phrase`.
  static void expect_read_error(const std::string& file, const std::string& phrase) {
    try {
      read_npy(file);
      ADD_FAILURE() << "no error for " << file;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file), std::string::npos) << message;
      EXPECT_NE(message.find(phrase), std::string::npos) << "expected '" << phrase << "' in: " << message;
    }
  }

  fs::path dir_;
};

template <class T>
void expect_round_trip(const std::string& file, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t extent : shape) numel *= extent;
  std::vector<T> values(static_cast<size_t>(numel));
  const int64_t shift = std::is_signed_v<T> ? 100 : 0;  // negative values where the type has them
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(static_cast<int64_t>(i * 7 % 251) - shift);
  if constexpr (std::is_floating_point_v<T>) {
    if (!values.empty()) values[0] = static_cast<T>(0.1);  // not representable exactly: bits must survive
  }
  write_npy(file, values, shape);
  const NpyArray array = read_npy(file);
  EXPECT_EQ(array.dtype(), npy_dtype_of<T>());
  EXPECT_EQ(array.shape(), shape);
  EXPECT_EQ(array.values<T>(), values);
}

TEST_F(NcNpy, RoundTripEveryDtypeAndShape) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {5}, {3, 4}, {2, 3, 4}, {0, 7}};
  for (size_t s = 0; s < shapes.size(); ++s) {
    SCOPED_TRACE("shape index " + std::to_string(s));
    std::string stem = "a";  // not "a" + std::to_string(s): GCC 12's bogus -Wrestrict (bug 105329)
    stem += std::to_string(s);
    expect_round_trip<float>(path(stem + "_f32.npy"), shapes[s]);
    expect_round_trip<double>(path(stem + "_f64.npy"), shapes[s]);
    expect_round_trip<int32_t>(path(stem + "_i32.npy"), shapes[s]);
    expect_round_trip<int64_t>(path(stem + "_i64.npy"), shapes[s]);
    expect_round_trip<uint8_t>(path(stem + "_u8.npy"), shapes[s]);
  }
}

// NumPy's layout for np.zeros((2, 3), np.float32): format 1.0, the sorted-keys dict, space padding so the
// data starts on a 64-byte boundary, a final newline. (NumPy ≥ 1.24 adds ~20 more spaces before the
// padding, for in-place growth of the first axis; readers accept either.) Here 10 + 60 + 1 bytes round
// up to a 128-byte header.
TEST_F(NcNpy, HeaderFollowsNumpysLayout) {
  write_npy(path("z.npy"), std::vector<float>(6, 0.0f), {2, 3});
  const std::string bytes = read_bytes(path("z.npy"));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const size_t header_end = 128;
  ASSERT_EQ(bytes.size(), header_end + 6 * 4);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8), header_end - 10);
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  const size_t padding = header_end - 11 - dict.size();
  EXPECT_EQ(bytes.substr(10 + dict.size(), padding), std::string(padding, ' '));
  EXPECT_EQ(bytes[header_end - 1], '\n');
  EXPECT_EQ(bytes.substr(header_end), std::string(24, '\0'));
  // 1-D shapes keep Python's trailing comma; uint8 has no byte order.
  write_npy(path("u.npy"), std::vector<uint8_t>{1, 2, 3}, {3});
  EXPECT_NE(read_bytes(path("u.npy")).find("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
}

TEST_F(NcNpy, ReadsVersions2And3AndHeaderVariants) {
  const std::string data("\x01\x00\x00\x00\x02\x00\x00\x00", 8);
  for (int major : {2, 3}) {
    const NpyArray a = read_npy(write_raw("v" + std::to_string(major) + ".npy",
                                          "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data, major));
    EXPECT_EQ(a.values<int32_t>(), (std::vector<int32_t>{1, 2}));
  }
  // Double quotes, another key order, no trailing comma, Python 2 long integers.
  const NpyArray b =
      read_npy(write_raw("variant.npy", R"({"shape": (1L, 2L), "fortran_order": False, "descr": "<i4"})", data));
  EXPECT_EQ(b.shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(b.to_int64(), (std::vector<int64_t>{1, 2}));
}

TEST_F(NcNpy, MalformedFilesNameTheFileAndTheProblem) {
  const std::string four_floats(16, '\0');
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
  expect_read_error(write_raw("magic.npy", ok_dict, four_floats, 1, "\x93NUMPZ"), "wrong magic");
  expect_read_error(write_raw("short.npy", "", "", 1, "\x93NU"), "wrong magic");
  expect_read_error(write_raw("version.npy", ok_dict, four_floats, 4), "unsupported format version 4.0");
  expect_read_error(write_raw("c8.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four_floats),
                    "unsupported dtype '<c8'");
  expect_read_error(write_raw("bool.npy", "{'descr': '|b1', 'fortran_order': False, 'shape': (16,), }", four_floats),
                    "unsupported dtype '|b1'");
  expect_read_error(
      write_raw("struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", four_floats),
      "structured dtypes");
  expect_read_error(write_raw("big.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four_floats),
                    "big-endian");
  expect_read_error(write_raw("truncated.npy", ok_dict, four_floats.substr(0, 12)), "truncated data");
  expect_read_error(write_raw("trailing.npy", ok_dict, four_floats + "xx"), "unexpected bytes after the data");
  expect_read_error(write_raw("nokey.npy", "{'descr': '<f4', 'shape': (4,), }", four_floats), "no 'fortran_order'");
  expect_read_error(
      write_raw("extrakey.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", four_floats),
      "unexpected key 'x'");
  expect_read_error(write_raw("garbage.npy", "not a dict", four_floats), "malformed header");
  // Found by fuzzing: extents without commas were accepted, and with a zero among huge ones the data size
  // (0) passed while the element count overflowed.
  expect_read_error(write_raw("nocomma.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (5818 9990 0 972943, 2), }",
                              ""),
                    "separated by commas");
  const NpyArray empty = read_npy(write_raw("zero.npy", "{'descr': '<f4', 'fortran_order': False, "
                                                        "'shape': (4000000000, 0, 4000000000, 4000000000), }", ""));
  EXPECT_EQ(empty.numel(), 0);
  // The header length field promises more bytes than the file has.
  std::ofstream(path("cut.npy"), std::ios::binary) << std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 18);
  expect_read_error(path("cut.npy"), "truncated header");
  expect_read_error(path("does_not_exist.npy"), "cannot open");
}

// float16 (np.float16, as saved from half-precision activations) is widened to float32 exactly, and a
// Fortran-order array (np.asfortranarray, or a transposed view saved as is) is reordered to row-major.
TEST_F(NcNpy, ReadsFloat16AndFortranOrder) {
  // 1, -2, 0.1 (rounded to 0.0999755859375), 65504 (max), 2^-24 (smallest subnormal), inf, NaN, -0
  const uint16_t halves[] = {0x3c00, 0xc000, 0x2e66, 0x7bff, 0x0001, 0x7c00, 0x7e00, 0x8000};
  const NpyArray h = read_npy(write_raw("half.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }",
                                        std::string(reinterpret_cast<const char*>(halves), sizeof halves)));
  ASSERT_EQ(h.dtype(), NpyDType::f32);
  EXPECT_EQ(h.shape(), (std::vector<int64_t>{2, 4}));
  const std::vector<float>& v = h.values<float>();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 0.0999755859375f);
  EXPECT_EQ(v[3], 65504.0f);
  EXPECT_EQ(v[4], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(v[5]) && v[5] > 0);
  EXPECT_TRUE(std::isnan(v[6]));
  EXPECT_TRUE(v[7] == 0.0f && std::signbit(v[7]));

  // The 2 x 3 matrix [[0, 1, 2], [3, 4, 5]] stored column by column: 0 3 1 4 2 5.
  const float column_major[] = {0, 3, 1, 4, 2, 5};
  const NpyArray f = read_npy(write_raw("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                        std::string(reinterpret_cast<const char*>(column_major), sizeof column_major)));
  EXPECT_EQ(f.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.values<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  // 3-D: element (i, j, k) of shape (2, 2, 2) at column-major offset i + 2j + 4k holds 100i + 10j + k.
  std::vector<double> cube(8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 2; ++k) cube[i + 2 * j + 4 * k] = 100 * i + 10 * j + k;
  const NpyArray c = read_npy(write_raw("cube.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2, 2), }",
                                        std::string(reinterpret_cast<const char*>(cube.data()), 64)));
  EXPECT_EQ(c.values<double>(), (std::vector<double>{0, 1, 10, 11, 100, 101, 110, 111}));
}

TEST_F(NcNpy, ShapeAndDtypeExpectationsNameTheFile) {
  write_npy(path("m.npy"), std::vector<float>(12, 1.0f), {3, 4});
  const NpyArray a = read_npy(path("m.npy"));
  EXPECT_NO_THROW(a.expect_shape({-1, 4}, "features (N, 4)"));
  EXPECT_NO_THROW(a.expect_shape({3, 4}, "features"));
  for (const auto& [shape, expected] :
       {std::pair<std::vector<int64_t>, std::string>{{-1, 5}, "expected (*, 5)"}, {{12}, "expected (12,)"}}) {
    try {
      a.expect_shape(shape, "features (N, p)");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path("m.npy")), std::string::npos) << message;
      EXPECT_NE(message.find("shape (3, 4) does not match features (N, p)"), std::string::npos) << message;
      EXPECT_NE(message.find(expected), std::string::npos) << message;
    }
  }
  EXPECT_THROW(a.values<double>(), Error);
  EXPECT_THROW(a.to_int64(), Error);  // float labels are refused, not truncated
}

TEST_F(NcNpy, WritesAtomicallyAndOverwrites) {
  write_npy(path("w.npy"), std::vector<double>{1, 2, 3}, {3});
  write_npy(path("w.npy"), std::vector<double>{4, 5}, {2});
  EXPECT_EQ(read_npy(path("w.npy")).values<double>(), (std::vector<double>{4, 5}));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.path().filename() == "w.npy" ? 1 : 100;
  EXPECT_EQ(files, 1);                                                                  // no temporary left behind
  EXPECT_THROW(write_npy(path("w.npy"), std::vector<double>{1, 2, 3}, {2, 2}), Error);  // count ≠ shape
  EXPECT_THROW(write_npy(path("missing_dir/w.npy"), std::vector<double>{1}, {1}), Error);
}

}  // namespace
}  // namespace collapse::nc
