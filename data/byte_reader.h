#pragma once
// A bounds-checked cursor over a byte buffer. Every read names the field it wants, so a short or
// malformed file fails with "<file>: truncated: need 4 bytes for <field> at offset 16, 2 left".
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"

namespace collapse {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string what, bool big_endian = false)
      : data_(data), size_(size), what_(std::move(what)), big_endian_(big_endian) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  bool at_end() const { return pos_ == size_; }
  const std::string& what() const { return what_; }
  void set_big_endian(bool big) { big_endian_ = big; }
  bool big_endian() const { return big_endian_; }

  // A pointer to the next n bytes, which the cursor then skips.
  const uint8_t* take(size_t n, const char* field) {
    COLLAPSE_CHECK(n <= remaining(), what_, ": truncated: need ", n, " bytes for ", field, " at offset ", pos_,
                   ", only ", remaining(), " left");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  void skip(size_t n, const char* field) { take(n, field); }

  uint16_t u16(const char* field) { return static_cast<uint16_t>(unsigned_value(2, field)); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(unsigned_value(4, field)); }

 private:
  uint64_t unsigned_value(size_t n, const char* field) {
    const uint8_t* p = take(n, field);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[big_endian_ ? n - 1 - i : i]) << (8 * i);
    return v;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string what_;
  bool big_endian_;
};

}  // namespace collapse
