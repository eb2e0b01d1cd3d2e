#include "data/mat_v5.h"

#include <algorithm>
#include <cstring>

#include "core/checked_size.h"
#include "core/error.h"
#include "data/byte_reader.h"
#include "data/file_bytes.h"
#include "data/zlib_inflate.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {

constexpr size_t kHeaderBytes = 128;
constexpr uint32_t kComplexFlag = 0x0800;

size_t stored_type_size(uint32_t type) {
  switch (type) {
    case kMiInt8: case kMiUint8: return 1;
    case kMiInt16: case kMiUint16: return 2;
    case kMiInt32: case kMiUint32: case kMiSingle: return 4;
    case kMiDouble: case kMiInt64: case kMiUint64: return 8;
    default: return 0;
  }
}

bool is_numeric_class(uint32_t c) { return c >= kMxDouble && c <= kMxUint64; }

struct Element {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};

Element read_element(ByteReader& r, const char* field) {
  const uint32_t first = r.u32(field);
  if (first >> 16) {  // small data element: byte count in the upper half, type in the lower, data in the next 4 bytes
    Element e{first & 0xFFFF, nullptr, first >> 16};
    COLLAPSE_CHECK(e.nbytes <= 4, r.what(), ": malformed small data element for ", field, " (", e.nbytes, " bytes)");
    e.data = r.take(4, field);
    return e;
  }
  Element e{first, nullptr, r.u32(field)};
  e.data = r.take(e.nbytes, field);
  // Elements are padded to 8 bytes; a writer may leave out the padding of the very last one.
  r.skip(std::min<size_t>((8 - e.nbytes % 8) % 8, r.remaining()), "padding");
  return e;
}

void byte_swap_in_place(uint8_t* p, size_t nbytes, size_t elem) {
  if (elem <= 1) return;
  for (size_t i = 0; i + elem <= nbytes; i += elem) std::reverse(p + i, p + i + elem);
}

// Parses the contents of one miMATRIX element; `buffer` owns the bytes `r` reads.
MatVariable parse_matrix(ByteReader& r, const std::shared_ptr<std::vector<uint8_t>>& buffer) {
  const std::string& what = r.what();
  MatVariable v;
  const Element flags = read_element(r, "array flags");
  COLLAPSE_CHECK(flags.type == kMiUint32 && flags.nbytes == 8, what, ": malformed array flags (type ", flags.type,
                 ", ", flags.nbytes, " bytes)");
  ByteReader fr(flags.data, flags.nbytes, what, r.big_endian());
  const uint32_t flag_word = fr.u32("array flags");
  v.array_class = flag_word & 0xFF;

  const Element dims = read_element(r, "dimensions");
  COLLAPSE_CHECK(dims.type == kMiInt32 && dims.nbytes % 4 == 0 && dims.nbytes >= 8, what,
                 ": malformed dimensions element (type ", dims.type, ", ", dims.nbytes, " bytes)");
  ByteReader dr(dims.data, dims.nbytes, what, r.big_endian());
  for (size_t d = 0; d < dims.nbytes / 4; ++d) {
    const int32_t n = static_cast<int32_t>(dr.u32("a dimension"));
    COLLAPSE_CHECK(n >= 0, what, ": negative dimension ", n);
    v.dims.push_back(n);
  }

  const Element name = read_element(r, "array name");
  COLLAPSE_CHECK(name.type == kMiInt8 || name.type == kMiUtf8, what, ": malformed array name (type ", name.type, ")");
  v.name.assign(reinterpret_cast<const char*>(name.data), name.nbytes);

  if (!is_numeric_class(v.array_class)) return v;  // cells, structs, chars...: listed, not read
  COLLAPSE_CHECK(!(flag_word & kComplexFlag), what, ": variable '", v.name, "' is complex; only real arrays are read");
  const Element real = read_element(r, "real part");
  const size_t elem = stored_type_size(real.type);
  COLLAPSE_CHECK(elem > 0, what, ": variable '", v.name, "' has unsupported storage type ", real.type);
  const int64_t needed = checked_mul(checked_product(v.dims, what + ": dimensions of '" + v.name + "'"),
                                     static_cast<int64_t>(elem), what + ": size of '" + v.name + "'");
  COLLAPSE_CHECK(real.nbytes == static_cast<size_t>(needed), what, ": variable '", v.name, "' holds ", real.nbytes,
                 " bytes but its dimensions need ", v.numel(), " x ", elem);
  v.stored_type = real.type;
  v.offset = static_cast<size_t>(real.data - buffer->data());
  v.nbytes = real.nbytes;
  if (r.big_endian()) byte_swap_in_place(buffer->data() + v.offset, v.nbytes, elem);
  v.buffer = buffer;
  return v;
}

template <class T>
void append_as_double(const uint8_t* p, size_t n, std::vector<double>& out) {
  for (size_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, p + i * sizeof(T), sizeof(T));
    out.push_back(static_cast<double>(value));
  }
}

}  // namespace

int64_t MatVariable::numel() const { return checked_product(dims, "MAT-file variable '" + name + "'"); }

std::vector<MatVariable> read_mat_v5(const fs::path& path) {
  const std::string what = path.string();
  auto file = std::make_shared<std::vector<uint8_t>>(read_file_bytes(path));
  COLLAPSE_CHECK(file->size() >= kHeaderBytes, what, ": truncated: ", file->size(),
                 " bytes, shorter than the 128-byte MAT-file header");
  const std::string text(file->begin(), file->begin() + 116);
  COLLAPSE_CHECK(text.rfind("MATLAB 7.3 MAT-file", 0) != 0, what,
                 ": is a MATLAB 7.3 (HDF5) MAT-file; save it with -v7 or -v6 to read it here");
  COLLAPSE_CHECK(text.rfind("MATLAB 5.0 MAT-file", 0) == 0, what,
                 ": wrong magic: not a MATLAB 5 MAT-file (the header text does not start with \"MATLAB 5.0 MAT-file\")");
  const char e0 = static_cast<char>((*file)[126]), e1 = static_cast<char>((*file)[127]);
  COLLAPSE_CHECK((e0 == 'I' && e1 == 'M') || (e0 == 'M' && e1 == 'I'), what, ": wrong endian mark in the header");
  const bool big_endian = e0 == 'M';

  std::vector<MatVariable> vars;
  ByteReader r(file->data() + kHeaderBytes, file->size() - kHeaderBytes, what, big_endian);
  while (!r.at_end()) {
    const size_t element_offset = kHeaderBytes + r.position();
    const uint32_t type = r.u32("a variable's tag");
    const uint32_t nbytes = r.u32("a variable's tag");
    const uint8_t* payload = r.take(nbytes, "a variable's data");
    if (type == kMiCompressed) {
      const std::string where = what + " (compressed variable at offset " + std::to_string(element_offset) + ")";
      // The inflated stream starts with the miMATRIX tag, whose byte count bounds the rest: inflation stops
      // there (plus the 8-byte padding) instead of following a crafted stream to gigabytes.
      const std::vector<uint8_t> head = inflate_zlib_head(payload, nbytes, 8, where);
      ByteReader tag(head.data(), head.size(), where, big_endian);
      tag.u32("the compressed matrix's tag");
      const size_t promised = 8 + static_cast<size_t>(tag.u32("the compressed matrix's size")) + 7;
      auto inflated = std::make_shared<std::vector<uint8_t>>(inflate_zlib(payload, nbytes, where, promised));
      ByteReader inner(inflated->data(), inflated->size(), where, big_endian);
      const Element m = read_element(inner, "the compressed matrix");
      COLLAPSE_CHECK(m.type == kMiMatrix, where, ": holds element type ", m.type, ", expected miMATRIX (14)");
      ByteReader mr(m.data, m.nbytes, where, big_endian);
      vars.push_back(parse_matrix(mr, inflated));
    } else if (type == kMiMatrix) {
      ByteReader mr(payload, nbytes, what, big_endian);
      vars.push_back(parse_matrix(mr, file));
    }
    // Other top-level elements carry no variable and are skipped.
  }
  return vars;
}

const MatVariable& find_mat_variable(const std::vector<MatVariable>& vars, const std::string& name,
                                     const std::string& what) {
  std::string names;
  for (const MatVariable& v : vars) {
    if (v.name == name) return v;
    names += (names.empty() ? "" : ", ") + v.name;
  }
  COLLAPSE_FAIL(what, ": no variable '", name, "' (the file holds: ", names.empty() ? "nothing" : names, ")");
}

std::vector<double> mat_values_as_double(const MatVariable& var, const std::string& what) {
  COLLAPSE_CHECK(var.has_numeric_data(), what, ": variable '", var.name, "' is not a numeric array");
  std::vector<double> out;
  const size_t n = static_cast<size_t>(var.numel());
  out.reserve(n);
  const uint8_t* p = var.data();
  switch (var.stored_type) {
    case kMiInt8: append_as_double<int8_t>(p, n, out); break;
    case kMiUint8: append_as_double<uint8_t>(p, n, out); break;
    case kMiInt16: append_as_double<int16_t>(p, n, out); break;
    case kMiUint16: append_as_double<uint16_t>(p, n, out); break;
    case kMiInt32: append_as_double<int32_t>(p, n, out); break;
    case kMiUint32: append_as_double<uint32_t>(p, n, out); break;
    case kMiSingle: append_as_double<float>(p, n, out); break;
    case kMiDouble: append_as_double<double>(p, n, out); break;
    case kMiInt64: append_as_double<int64_t>(p, n, out); break;
    case kMiUint64: append_as_double<uint64_t>(p, n, out); break;
    default: COLLAPSE_FAIL(what, ": variable '", var.name, "' has unsupported storage type ", var.stored_type);
  }
  return out;
}

}  // namespace collapse
