#include "core/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/checked_size.h"

namespace collapse {
namespace {
const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& path, const std::string& key) {
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  if (s == "I64") return DType::i64;
  if (s == "U8") return DType::u8;
  COLLAPSE_FAIL(path, ": tensor '", key, "' has unsupported dtype '", s, "'");
}
}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    Tensor h = t.to(Device::cpu()).contiguous();
    header[name] = {{"dtype", safetensors_dtype(h.dtype())}, {"shape", h.shape()},
                    {"data_offsets", {offset, offset + h.nbytes()}}};
    offset += h.nbytes();
    host.push_back(h);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the format pads the header to 8 bytes with spaces
  write_file_atomically(path, [&](std::ostream& out) {
    uint64_t n = json.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    for (const Tensor& h : host) out.write(static_cast<const char*>(h.raw_data()), static_cast<std::streamsize>(h.nbytes()));
  });
}

NamedTensors load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  COLLAPSE_CHECK(in.good(), path, ": cannot open checkpoint file");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  COLLAPSE_CHECK(file_size >= 8, path, ": truncated safetensors file (", file_size, " bytes, no header length)");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len[i]) << (8 * i);
  COLLAPSE_CHECK(header_len <= file_size - 8, path, ": header length ", header_len, " exceeds the file (", file_size,
                 " bytes): truncated or not a safetensors file");
  std::string json(header_len, '\0');
  in.read(json.data(), static_cast<std::streamsize>(header_len));
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(json);
  } catch (const std::exception& e) {
    COLLAPSE_FAIL(path, ": corrupt safetensors header: ", e.what());
  }
  COLLAPSE_CHECK(header.is_object(), path, ": safetensors header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_len;
  NamedTensors out;
  for (auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      COLLAPSE_CHECK(entry.is_object(), path, ": __metadata__ is not a JSON object");
      for (auto& [mk, mv] : entry.items()) {
        COLLAPSE_CHECK(mv.is_string(), path, ": metadata '", mk, "' is not a string (the format's metadata is "
                       "string to string)");
        if (metadata) (*metadata)[mk] = mv.get<std::string>();
      }
      continue;
    }
    try {
      const DType dtype = parse_dtype(entry.at("dtype").get<std::string>(), path, key);
      const Shape shape = entry.at("shape").get<Shape>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      COLLAPSE_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, path, ": tensor '",
                     key, "' has data offsets outside the file (truncated?)");
      // The shape's size is checked against the bytes present before anything is allocated.
      const std::string what = path + ": tensor '" + key + "'";
      const int64_t needed = checked_mul(checked_product(shape, what + " shape"),
                                         static_cast<int64_t>(dtype_size(dtype)), what);
      COLLAPSE_CHECK(offsets[1] - offsets[0] == static_cast<uint64_t>(needed), path, ": tensor '", key, "' holds ",
                     offsets[1] - offsets[0], " bytes, its shape ", shape_str(shape), " needs ", needed);
      Tensor t = Tensor::empty(shape, dtype);
      in.seekg(static_cast<std::streamoff>(8 + header_len + offsets[0]));
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
      COLLAPSE_CHECK(in.good(), path, ": read of tensor '", key, "' failed (truncated file)");
      out.emplace_back(key, t);
    } catch (const nlohmann::json::exception& e) {
      COLLAPSE_FAIL(path, ": bad header entry for '", key, "': ", e.what());
    }
  }
  return out;
}

}  // namespace collapse
