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
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& what);

// Inflates one zlib (RFC 1950) stream that must fill exactly `size` input bytes.
std::vector<uint8_t> inflate_zlib(const uint8_t* data, size_t size, const std::string& what);

}  // namespace collapse
