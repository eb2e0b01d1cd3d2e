#pragma once
// NumPy .npy files (format versions 1.0, 2.0 and 3.0), so that features, labels and classifier weights
// can move between this framework and any other. Supported: little-endian float32, float64, int32,
// int64 and uint8, C order. Everything else (big-endian, Fortran order, other dtypes, damaged files) is
// refused with a collapse::Error that names the file and what is wrong with it.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace collapse::nc {

enum class NpyDType { f32, f64, i32, i64, u8 };

const char* npy_dtype_name(NpyDType dtype);  // "float32", ...

template <class T>
constexpr NpyDType npy_dtype_of();
template <>
constexpr NpyDType npy_dtype_of<float>() {
  return NpyDType::f32;
}
template <>
constexpr NpyDType npy_dtype_of<double>() {
  return NpyDType::f64;
}
template <>
constexpr NpyDType npy_dtype_of<int32_t>() {
  return NpyDType::i32;
}
template <>
constexpr NpyDType npy_dtype_of<int64_t>() {
  return NpyDType::i64;
}
template <>
constexpr NpyDType npy_dtype_of<uint8_t>() {
  return NpyDType::u8;
}

// The contents of one .npy file. The values live in a vector of their own type (no reinterpretation of
// raw bytes), and every accessor that can fail names the file it came from.
class NpyArray {
 public:
  using Values = std::variant<std::vector<float>, std::vector<double>, std::vector<int32_t>, std::vector<int64_t>,
                              std::vector<uint8_t>>;

  NpyArray(std::string path, std::vector<int64_t> shape, Values values);

  const std::string& path() const { return path_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const;
  NpyDType dtype() const;
  std::string shape_str() const;  // "(3, 4)", NumPy's spelling

  // The values when the dtype is exactly T; otherwise an Error naming the file and both dtypes.
  template <class T>
  const std::vector<T>& values() const;
  template <class T>
  bool holds() const {
    return std::holds_alternative<std::vector<T>>(values_);
  }

  // Integer dtypes (int32, int64, uint8) widened to int64: labels. Floating dtypes are refused.
  std::vector<int64_t> to_int64() const;

  // Checks the shape against `expected`, where -1 matches any extent; `what` says what the caller
  // reads the file as ("features (N, p)"), and appears in the error message.
  void expect_shape(const std::vector<int64_t>& expected, const std::string& what) const;

 private:
  std::string path_;
  std::vector<int64_t> shape_;
  Values values_;
};

NpyArray read_npy(const std::string& path);

// Writes atomically (temporary file + rename), format 1.0 unless the header needs 2.0. `data` holds
// product(shape) values of `dtype` in C order.
void write_npy(const std::string& path, NpyDType dtype, const std::vector<int64_t>& shape, const void* data);

template <class T>
void write_npy(const std::string& path, const T* data, const std::vector<int64_t>& shape) {
  write_npy(path, npy_dtype_of<T>(), shape, data);
}
void check_npy_value_count(const std::string& path, size_t count, const std::vector<int64_t>& shape);
template <class T>
void write_npy(const std::string& path, const std::vector<T>& values, const std::vector<int64_t>& shape) {
  check_npy_value_count(path, values.size(), shape);
  write_npy(path, values.data(), shape);
}

}  // namespace collapse::nc
