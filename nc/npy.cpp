#include "nc/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <optional>

#include "core/atomic_file.h"
#include "core/checked_size.h"
#include "core/error.h"

namespace collapse::nc {

// The .npy layout stores little-endian values; reading them straight into memory assumes the host agrees.
static_assert(std::endian::native == std::endian::little, "nc/npy assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLength = 6;
// NumPy pads the header so that the data starts on a 64-byte boundary (numpy.lib.format.ARRAY_ALIGN).
constexpr size_t kHeaderAlignment = 64;

size_t item_size(NpyDType dtype) {
  switch (dtype) {
    case NpyDType::f32: return 4;
    case NpyDType::f64: return 8;
    case NpyDType::i32: return 4;
    case NpyDType::i64: return 8;
    case NpyDType::u8: return 1;
  }
  return 0;
}

const char* descr_of(NpyDType dtype) {
  switch (dtype) {
    case NpyDType::f32: return "<f4";
    case NpyDType::f64: return "<f8";
    case NpyDType::i32: return "<i4";
    case NpyDType::i64: return "<i8";
    case NpyDType::u8: return "|u1";
  }
  return "?";
}

std::string shape_to_python(const std::vector<int64_t>& shape) {
  // Python's tuple repr: "()", "(5,)", "(2, 3)".
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// ---- Reading the header: a Python dict literal such as
//      {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// We accept what NumPy's own reader accepts in practice: either quote style, any whitespace, trailing
// commas, keys in any order, and Python 2's "3L" integers from old files.
struct NpyHeader {
  NpyDType dtype;  // in memory; float16 files are widened to float32 on reading
  std::vector<int64_t> shape;
  bool fortran_order = false;  // column-major on disk: reordered to row-major on reading
  bool float16 = false;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  NpyHeader parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<int64_t>> shape;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() == '[') fail("structured dtypes (descr is a list) are not supported");
        descr = parse_string();
      } else if (key == "fortran_order") {
        fortran_order = parse_bool();
      } else if (key == "shape") {
        shape = parse_shape();
      } else {
        fail("unexpected key '" + key + "' in the header");
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!descr) fail("the header has no 'descr'");
    if (!fortran_order) fail("the header has no 'fortran_order'");
    if (!shape) fail("the header has no 'shape'");
    const bool half = descr->size() == 3 && (descr->front() == '<' || descr->front() == '=') && descr->substr(1) == "f2";
    return {half ? NpyDType::f32 : dtype_from_descr(*descr), *shape, *fortran_order, half};
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { COLLAPSE_FAIL("npy file '", path_, "': ", what); }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(detail::concat("malformed header (expected '", c, "' at offset ", pos_, "): ", text_));
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("malformed header (expected a quoted string): " + text_);
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("malformed header (unterminated string): " + text_);
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }
  bool parse_bool() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("malformed header (fortran_order is neither True nor False): " + text_);
  }
  std::vector<int64_t> parse_shape() {
    expect('(');
    std::vector<int64_t> shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("malformed shape in header: " + text_);
      int64_t extent = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (extent > (INT64_MAX - 9) / 10) fail("shape extent too large in header: " + text_);
        extent = extent * 10 + (text_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;
      shape.push_back(extent);
      skip_space();
      if (peek() == ',') ++pos_;
      else if (peek() != ')') fail("malformed shape in header (extents must be separated by commas): " + text_);
    }
    ++pos_;
    return shape;
  }
  NpyDType dtype_from_descr(const std::string& descr) const {
    if (descr.size() >= 2 && descr[0] == '>' && descr != ">u1" && descr != ">i1")
      fail("dtype '" + descr + "' is big-endian; only little-endian data is supported");
    // '|' (no byte order) and '=' (native, little on this host) are accepted beside '<'.
    const std::string body =
        (!descr.empty() && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=')) ? descr.substr(1) : descr;
    if (body == "f4") return NpyDType::f32;
    if (body == "f8") return NpyDType::f64;
    if (body == "i4") return NpyDType::i32;
    if (body == "i8") return NpyDType::i64;
    if (body == "u1") return NpyDType::u8;
    fail("unsupported dtype '" + descr + "' (supported: <f2, <f4, <f8, <i4, <i8, |u1)");
  }

  const std::string& path_;
  const std::string& text_;
  size_t pos_ = 0;
};

uint32_t read_little_endian(const unsigned char* bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = 0; i < count; ++i) value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
  return value;
}

template <class T>
NpyArray::Values read_values(std::istream& in, int64_t count) {
  std::vector<T> values(static_cast<size_t>(count));
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
  return values;
}

// IEEE 754 binary16 to binary32, exactly (subnormals, infinities and NaN included).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN
  } else if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;  // +-0
    } else {        // subnormal: normalise
      int shift = 0;
      while ((mantissa & 0x400u) == 0) mantissa <<= 1, ++shift;
      bits = sign | ((127 - 15 - shift + 1) << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

NpyArray::Values read_float16_values(std::istream& in, int64_t count) {
  std::vector<uint16_t> halves(static_cast<size_t>(count));
  in.read(reinterpret_cast<char*>(halves.data()), static_cast<std::streamsize>(halves.size() * sizeof(uint16_t)));
  std::vector<float> values(halves.size());
  for (size_t i = 0; i < halves.size(); ++i) values[i] = half_to_float(halves[i]);
  return values;
}

// Column-major values (NumPy's fortran_order, e.g. a transposed array saved as is) in row-major order.
template <class T>
std::vector<T> fortran_to_c_order(const std::vector<T>& column_major, const std::vector<int64_t>& shape) {
  const size_t dims = shape.size();
  std::vector<int64_t> fortran_stride(dims, 1), index(dims, 0);
  for (size_t d = 1; d < dims; ++d) fortran_stride[d] = fortran_stride[d - 1] * shape[d - 1];
  std::vector<T> row_major(column_major.size());
  for (size_t i = 0; i < row_major.size(); ++i) {  // i walks row-major order; index is its multi-index
    int64_t offset = 0;
    for (size_t d = 0; d < dims; ++d) offset += index[d] * fortran_stride[d];
    row_major[i] = column_major[static_cast<size_t>(offset)];
    for (size_t d = dims; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return row_major;
}

NpyArray::Values read_values(std::istream& in, NpyDType dtype, int64_t count) {
  switch (dtype) {
    case NpyDType::f32: return read_values<float>(in, count);
    case NpyDType::f64: return read_values<double>(in, count);
    case NpyDType::i32: return read_values<int32_t>(in, count);
    case NpyDType::i64: return read_values<int64_t>(in, count);
    case NpyDType::u8: return read_values<uint8_t>(in, count);
  }
  COLLAPSE_FAIL("read_npy: bad dtype");
}

}  // namespace

const char* npy_dtype_name(NpyDType dtype) {
  switch (dtype) {
    case NpyDType::f32: return "float32";
    case NpyDType::f64: return "float64";
    case NpyDType::i32: return "int32";
    case NpyDType::i64: return "int64";
    case NpyDType::u8: return "uint8";
  }
  return "?";
}

// ---- NpyArray

NpyArray::NpyArray(std::string path, std::vector<int64_t> shape, Values values)
    : path_(std::move(path)), shape_(std::move(shape)), values_(std::move(values)) {
  const size_t count = std::visit([](const auto& v) { return v.size(); }, values_);
  COLLAPSE_CHECK(static_cast<int64_t>(count) == numel(), "NpyArray '", path_, "': ", count, " values for shape ",
                 shape_str());
}

int64_t NpyArray::numel() const {
  // A zero extent makes the product 0 whatever the others are; without one, the product of a shape
  // read_npy accepted fits (its data is in the file), and any other is an error, not a wrapped number.
  if (std::find(shape_.begin(), shape_.end(), 0) != shape_.end()) return 0;
  return checked_product(shape_, "npy file '" + path_ + "': shape " + shape_str());
}

NpyDType NpyArray::dtype() const {
  return std::visit([](const auto& v) { return npy_dtype_of<typename std::decay_t<decltype(v)>::value_type>(); },
                    values_);
}

std::string NpyArray::shape_str() const { return shape_to_python(shape_); }

template <class T>
const std::vector<T>& NpyArray::values() const {
  const auto* values = std::get_if<std::vector<T>>(&values_);
  COLLAPSE_CHECK(values != nullptr, "npy file '", path_, "': dtype is ", npy_dtype_name(dtype()), ", expected ",
                 npy_dtype_name(npy_dtype_of<T>()));
  return *values;
}
template const std::vector<float>& NpyArray::values<float>() const;
template const std::vector<double>& NpyArray::values<double>() const;
template const std::vector<int32_t>& NpyArray::values<int32_t>() const;
template const std::vector<int64_t>& NpyArray::values<int64_t>() const;
template const std::vector<uint8_t>& NpyArray::values<uint8_t>() const;

std::vector<int64_t> NpyArray::to_int64() const {
  return std::visit(
      [&](const auto& v) -> std::vector<int64_t> {
        using T = typename std::decay_t<decltype(v)>::value_type;
        if constexpr (std::is_integral_v<T>) {
          return std::vector<int64_t>(v.begin(), v.end());
        } else {
          COLLAPSE_FAIL("npy file '", path_, "': dtype is ", npy_dtype_name(dtype()),
                        ", expected an integer dtype (int32, int64 or uint8)");
        }
      },
      values_);
}

void NpyArray::expect_shape(const std::vector<int64_t>& expected, const std::string& what) const {
  bool matches = expected.size() == shape_.size();
  for (size_t i = 0; matches && i < expected.size(); ++i) matches = expected[i] < 0 || expected[i] == shape_[i];
  if (matches) return;
  std::string wanted = "(";
  for (size_t i = 0; i < expected.size(); ++i) {
    wanted += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
  }
  wanted += expected.size() == 1 ? ",)" : ")";
  COLLAPSE_FAIL("npy file '", path_, "': shape ", shape_str(), " does not match ", what, ": expected ", wanted);
}

// ---- Reading

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  COLLAPSE_CHECK(in.good(), "cannot open npy file '", path, "': ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);

  unsigned char preamble[kMagicLength + 2];
  in.read(reinterpret_cast<char*>(preamble), sizeof(preamble));
  COLLAPSE_CHECK(
      in.gcount() == static_cast<std::streamsize>(sizeof(preamble)) && std::memcmp(preamble, kMagic, kMagicLength) == 0,
      "npy file '", path, "': not a .npy file (wrong magic string)");
  const int major = preamble[kMagicLength];
  const int minor = preamble[kMagicLength + 1];
  COLLAPSE_CHECK(major >= 1 && major <= 3 && minor == 0, "npy file '", path, "': unsupported format version ", major,
                 ".", minor, " (supported: 1.0, 2.0, 3.0)");

  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 in 4 (3.0 only allows UTF-8 in it).
  const size_t length_bytes = major == 1 ? 2 : 4;
  unsigned char length_field[4] = {};
  in.read(reinterpret_cast<char*>(length_field), static_cast<std::streamsize>(length_bytes));
  COLLAPSE_CHECK(in.gcount() == static_cast<std::streamsize>(length_bytes), "npy file '", path, "': truncated header");
  const uint32_t header_length = read_little_endian(length_field, length_bytes);
  const uint64_t data_offset = kMagicLength + 2 + length_bytes + header_length;
  COLLAPSE_CHECK(data_offset <= file_size, "npy file '", path, "': truncated header (", header_length,
                 " header bytes announced, file has ", file_size, " bytes)");
  std::string header_text(header_length, '\0');
  in.read(header_text.data(), header_length);

  const NpyHeader header = HeaderParser(path, header_text).parse();
  // The product is checked against the bytes present before anything is allocated, so a corrupt shape
  // cannot ask for terabytes.
  const uint64_t available = file_size - data_offset;
  const uint64_t itemsize = header.float16 ? 2 : item_size(header.dtype);
  __uint128_t needed = itemsize;
  for (int64_t extent : header.shape) needed *= static_cast<uint64_t>(extent);
  COLLAPSE_CHECK(needed <= available, "npy file '", path, "': truncated data: shape ", shape_to_python(header.shape),
                 " of ", npy_dtype_name(header.dtype), " needs ", static_cast<uint64_t>(needed),
                 " bytes, the file has ", available, " after the header");
  COLLAPSE_CHECK(needed == available, "npy file '", path, "': ", available - static_cast<uint64_t>(needed),
                 " unexpected bytes after the data of shape ", shape_to_python(header.shape));

  const auto count = static_cast<int64_t>(needed / itemsize);
  NpyArray::Values values = header.float16 ? read_float16_values(in, count) : read_values(in, header.dtype, count);
  COLLAPSE_CHECK(in.good() || count == 0, "npy file '", path, "': read error");
  // Only a non-empty array needs reordering; an empty one may have huge extents beside its zero, whose
  // strides would overflow (found by fuzzing).
  if (header.fortran_order && header.shape.size() > 1 && count > 1)
    values = std::visit([&](const auto& v) -> NpyArray::Values { return fortran_to_c_order(v, header.shape); }, values);
  return NpyArray(path, header.shape, std::move(values));
}

// ---- Writing

void check_npy_value_count(const std::string& path, size_t count, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t extent : shape) numel *= extent;
  COLLAPSE_CHECK(static_cast<int64_t>(count) == numel, "write_npy '", path, "': ", count, " values for shape ",
                 shape_to_python(shape));
}

void write_npy(const std::string& path, NpyDType dtype, const std::vector<int64_t>& shape, const void* data) {
  int64_t numel = 1;
  for (int64_t extent : shape) {
    COLLAPSE_CHECK(extent >= 0, "write_npy '", path, "': negative extent in shape ", shape_to_python(shape));
    numel *= extent;
  }
  // NumPy writes the keys sorted, then pads with spaces to the alignment and ends with '\n'.
  std::string header = detail::concat("{'descr': '", descr_of(dtype),
                                      "', 'fortran_order': False, 'shape': ", shape_to_python(shape), ", }");
  size_t length_bytes = 2;
  char major = 1;
  if (kMagicLength + 2 + 2 + header.size() + 1 > 65535) {
    length_bytes = 4;
    major = 2;
  }
  const size_t unpadded = kMagicLength + 2 + length_bytes + header.size() + 1;
  header.append((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment, ' ');
  header += '\n';

  write_file_atomically(path, [&](std::ostream& out) {
    out.write(kMagic, kMagicLength);
    out.put(major);
    out.put(0);
    const auto length = static_cast<uint32_t>(header.size());
    for (size_t i = 0; i < length_bytes; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(numel * item_size(dtype)));
  });
}

}  // namespace collapse::nc
