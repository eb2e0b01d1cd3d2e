#pragma once
// zlib inflation for the two wrappings the dataset files use: gzip (the IDX downloads) and raw zlib
// streams (MATLAB v5 miCOMPRESSED elements). A stream that ends early is an error, not a short result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace collapse {

bool has_gzip_magic(const std::vector<uint8_t>& bytes);

// Inflates every gzip member in `data` (gzip allows concatenated members). `what` names the source in errors.
// Output beyond `max_output` bytes (what the format's header allows) is an error raised before more is
// allocated: a small file that inflates to gigabytes never does.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& what, size_t max_output = SIZE_MAX);
// The first `n` inflated bytes (fewer if the data is shorter): enough to read a header before deciding
// how much the whole may inflate to.
std::vector<uint8_t> gunzip_head(const uint8_t* data, size_t size, size_t n, const std::string& what);

// The first `n` inflated bytes of a zlib stream (fewer if it is shorter).
std::vector<uint8_t> inflate_zlib_head(const uint8_t* data, size_t size, size_t n, const std::string& what);

// Inflates one zlib (RFC 1950) stream that must fill exactly `size` input bytes, to at most `max_output`.
std::vector<uint8_t> inflate_zlib(const uint8_t* data, size_t size, const std::string& what,
                                  size_t max_output = SIZE_MAX);

}  // namespace collapse
