#include "data/zlib_inflate.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "core/error.h"

namespace collapse {
namespace {

// zlib's window-bits argument selects the wrapper: 15 = zlib header, 15 + 16 = gzip header.
constexpr int kZlibWindow = 15;
constexpr int kGzipWindow = 15 + 16;

// Inflates one stream starting at data[0], appending to `out` while out.size() stays within `limit`;
// returns how many input bytes it consumed. Past the limit: with `stop_at_limit`, stops there (out holds
// exactly `limit` bytes); otherwise an error, before more than limit + 1 bytes were ever allocated.
size_t inflate_one_stream(const uint8_t* data, size_t size, int window_bits, std::vector<uint8_t>& out,
                          const std::string& what, size_t limit, bool stop_at_limit) {
  z_stream zs{};
  COLLAPSE_CHECK(inflateInit2(&zs, window_bits) == Z_OK, what, ": zlib inflateInit2 failed");
  // zlib counts in uInt (32-bit); feed large inputs in pieces.
  size_t consumed = 0;
  int rc = Z_OK;
  const size_t start_size = out.size();
  // Start from the caller's reservation (gzip's size hint) or a guess, doubling when the output fills.
  const size_t cap = limit == SIZE_MAX ? SIZE_MAX : limit + 1;  // one byte over the limit detects "more"
  out.resize(std::min(cap, std::max<size_t>(out.capacity(), out.size() + 2 * size + 4096)));
  size_t produced = start_size;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      const size_t chunk = std::min<size_t>(size - consumed, UINT_MAX);
      zs.next_in = const_cast<Bytef*>(data + consumed);
      zs.avail_in = static_cast<uInt>(chunk);
      consumed += chunk;
    }
    if (produced == out.size()) out.resize(std::min(cap, out.size() * 2));
    const size_t room = std::min<size_t>(out.size() - produced, UINT_MAX);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (produced > limit) {
      const size_t used = consumed - zs.avail_in;
      inflateEnd(&zs);
      COLLAPSE_CHECK(stop_at_limit, what, ": the compressed data inflates to more than ", limit,
                     " bytes, more than its header allows");
      out.resize(limit);
      return used;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed == size) {
      inflateEnd(&zs);
      COLLAPSE_FAIL(what, ": truncated compressed data (the stream ends before its end marker after ", size,
                    " input bytes)");
    }
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      const std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      COLLAPSE_FAIL(what, ": corrupt compressed data (zlib: ", msg, ")");
    }
  }
  const size_t used = consumed - zs.avail_in;
  inflateEnd(&zs);
  out.resize(produced);
  return used;
}

}  // namespace

bool has_gzip_magic(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& what, size_t max_output) {
  std::vector<uint8_t> out;
  // A gzip member ends with its uncompressed size mod 2^32: exact for the single-member files we meet.
  // A damaged file's last bytes can claim gigabytes, so the hint is believed only up to a ratio no real
  // image data reaches.
  if (size >= 18) {
    const size_t hint = static_cast<size_t>(data[size - 4]) | static_cast<size_t>(data[size - 3]) << 8 |
                        static_cast<size_t>(data[size - 2]) << 16 | static_cast<size_t>(data[size - 1]) << 24;
    if (hint <= 32 * size) out.reserve(std::min(hint, max_output));
  }
  size_t pos = 0;
  while (pos < size) {
    COLLAPSE_CHECK(size - pos >= 2 && data[pos] == 0x1f && data[pos + 1] == 0x8b, what, ": ", size - pos,
                   " stray bytes after the gzip data at offset ", pos);
    pos += inflate_one_stream(data + pos, size - pos, kGzipWindow, out, what, max_output, false);
  }
  return out;
}

std::vector<uint8_t> gunzip_head(const uint8_t* data, size_t size, size_t n, const std::string& what) {
  std::vector<uint8_t> out;
  if (n > 0) inflate_one_stream(data, size, kGzipWindow, out, what, n, true);
  return out;
}

std::vector<uint8_t> inflate_zlib_head(const uint8_t* data, size_t size, size_t n, const std::string& what) {
  std::vector<uint8_t> out;
  if (n > 0) inflate_one_stream(data, size, kZlibWindow, out, what, n, true);
  return out;
}

std::vector<uint8_t> inflate_zlib(const uint8_t* data, size_t size, const std::string& what, size_t max_output) {
  std::vector<uint8_t> out;
  const size_t used = inflate_one_stream(data, size, kZlibWindow, out, what, max_output, false);
  COLLAPSE_CHECK(used == size, what, ": ", size - used, " stray bytes after the compressed stream");
  return out;
}

}  // namespace collapse
