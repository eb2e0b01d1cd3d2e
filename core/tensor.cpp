#include "core/tensor.h"

#include <array>
#include <utility>

#include <cstring>
#include <sstream>

namespace collapse {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

Shape channels_last_strides(const Shape& shape) {
  COLLAPSE_CHECK(shape.size() == 4, "channels_last_strides: needs a 4-D shape, got ", shape_str(shape));
  int64_t C = std::max<int64_t>(shape[1], 1), H = std::max<int64_t>(shape[2], 1), W = std::max<int64_t>(shape[3], 1);
  return {H * W * C, 1, W * C, C};
}

namespace {
// Strides of size-1 dimensions never matter: [N,C,1,1] is both row-major and channels-last.
bool same_layout(const Shape& shape, const Shape& a, const Shape& b) {
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1 && a[d] != b[d]) return false;
  return true;
}
}  // namespace

bool Tensor::is_contiguous() const { return same_layout(shape_, strides_, contiguous_strides(shape_)); }
bool Tensor::is_channels_last() const {
  return dim() == 4 && same_layout(shape_, strides_, channels_last_strides(shape_));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, MemoryFormat format) {
  for (int64_t d : shape) COLLAPSE_CHECK(d >= 0, "Tensor::empty: negative size in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.strides_ = format == MemoryFormat::channels_last ? channels_last_strides(shape) : contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::empty_activation(const Shape& shape, DType dtype, Device device) {
  return empty(shape, dtype, device, shape.size() == 4 ? MemoryFormat::channels_last : MemoryFormat::contiguous);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device, MemoryFormat format) {
  Tensor t = empty(shape, dtype, device, format);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  COLLAPSE_CHECK(d >= 0 && d < dim(), "Tensor::size: dimension ", d, " out of range for ", str());
  return shape_[d];
}

void* Tensor::raw_data() const {
  COLLAPSE_CHECK(defined(), "Tensor: access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

template <class T>
T* Tensor::data() const {
  COLLAPSE_CHECK(dtype_ == dtype_of<T>(), "Tensor::data: tensor is ", dtype_name(dtype_), ", asked for ",
                 dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

Tensor Tensor::contiguous(MemoryFormat format) const {
  bool ok = format == MemoryFormat::contiguous ? is_contiguous() : is_channels_last();
  if (ok) return *this;
  Tensor t = empty(shape_, dtype_, device_, format);
  t.copy_(*this);
  return t;
}

Tensor Tensor::clone() const {
  // A channel slice of a channels-last activation stays channels-last (concat's backward relies on it).
  const bool nhwc = is_channels_last() || (stride_c_is_one() && !is_contiguous());
  Tensor t = empty(shape_, dtype_, device_, nhwc ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  t.copy_(*this);
  return t;
}

Tensor Tensor::view(const Shape& shape) const {
  COLLAPSE_CHECK(is_contiguous(), "Tensor::view: needs a row-major contiguous tensor, got ", str());
  COLLAPSE_CHECK(shape_numel(shape) == numel(), "Tensor::view: cannot view ", str(), " as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  COLLAPSE_CHECK(d >= 0 && d < dim() && start >= 0 && length >= 0 && start + length <= shape_[d],
                 "Tensor::narrow: dim ", d, " range [", start, ", ", start + length, ") out of ", str());
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = length;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  Tensor t = narrow(d, index, 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device_, is_channels_last() ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device, is_channels_last() ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  t.copy_(*this);
  return t;
}

void for_each_offset_pair(const Shape& shape, const Shape& sa, const Shape& sb,
                          const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  const size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(oa, ob);
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (shape[d] - 1);
      ob -= sb[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

namespace {

// Element-wise conversion through strides: an odometer over the outer dimensions and a tight inner loop
// over the last one (no per-element indirect call: this is the path for layout changes such as
// NCHW <-> channels-last, which would otherwise dominate small-tensor training steps).
template <class D, class S>
void strided_convert(D* dst, const Shape& dst_strides, const S* src, const Shape& src_strides, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  if (shape.empty()) {
    dst[0] = static_cast<D>(src[0]);
    return;
  }
  const size_t nd = shape.size();
  const int64_t inner = shape[nd - 1], ds = dst_strides[nd - 1], ss = src_strides[nd - 1];
  std::vector<int64_t> idx(nd - 1, 0);
  int64_t od = 0, os = 0;
  for (int64_t done = 0; done < n; done += inner) {
    for (int64_t i = 0; i < inner; ++i) dst[od + i * ds] = static_cast<D>(src[os + i * ss]);
    for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        od += dst_strides[d];
        os += src_strides[d];
        break;
      }
      od -= dst_strides[d] * (shape[d] - 1);
      os -= src_strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

template <class F>
void dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    case DType::i64: f(int64_t{}); break;
    case DType::u8: f(uint8_t{}); break;
  }
}

// Copies `count` runs of `bytes` bytes, dst_step and src_step bytes apart. The short runs of 4-byte elements
// (DenseNet's growth rate, its first layers' channel counts) get a copy for their size, whose fixed-size
// memcpy the compiler turns into a few vector moves: a libc call per run would cost more than the copy.
using RunCopy = void (*)(char* dst, int64_t dst_step, const char* src, int64_t src_step, int64_t count, size_t bytes);
void copy_runs(char* dst, int64_t dst_step, const char* src, int64_t src_step, int64_t count, size_t bytes) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * dst_step, src + i * src_step, bytes);
}
template <size_t Bytes>
void copy_runs_of(char* dst, int64_t dst_step, const char* src, int64_t src_step, int64_t count, size_t) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * dst_step, src + i * src_step, Bytes);
}
constexpr size_t kMaxShortRun = 64;  // elements
RunCopy run_copy_for(size_t elements, size_t element_size) {
  static const auto short_runs = []<size_t... C>(std::index_sequence<C...>) {
    return std::array<RunCopy, sizeof...(C)>{&copy_runs_of<4 * C>...};
  }(std::make_index_sequence<kMaxShortRun + 1>{});
  return element_size == 4 && elements <= kMaxShortRun ? short_runs[elements] : &copy_runs;
}

// Same-dtype copy on the CPU. The fast cases are what training needs: identical layouts (one memcpy)
// and slices along the channel dimension of channels-last tensors (concat), where the innermost run
// of each pixel is contiguous on both sides.
void cpu_copy_same_dtype(Tensor& dst, const Tensor& src) {
  const size_t es = dtype_size(dst.dtype());
  char* d = static_cast<char*>(dst.raw_data());
  const char* s = static_cast<const char*>(src.raw_data());
  if (dst.is_dense() && ((dst.is_contiguous() && src.is_contiguous()) || (dst.is_channels_last() && src.is_channels_last()))) {
    std::memcpy(d, s, dst.nbytes());
    return;
  }
  if (dst.dim() == 4 && dst.stride_c_is_one() && src.stride_c_is_one()) {
    const Shape& sh = dst.shape();
    const int64_t N = sh[0], C = sh[1], H = sh[2], W = sh[3];
    const auto& ds = dst.strides();
    const auto& ss = src.strides();
    const RunCopy copy = run_copy_for(C, es);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        copy(d + (n * ds[0] + h * ds[2]) * es, ds[3] * es, s + (n * ss[0] + h * ss[2]) * es, ss[3] * es, W, C * es);
    return;
  }
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    strided_convert(dst.data<T>(), dst.strides(), src.data<T>(), src.strides(), dst.shape());
  });
}

}  // namespace

bool Tensor::stride_c_is_one() const { return dim() == 4 && strides_[1] == 1; }

void Tensor::copy_(const Tensor& src) {
  COLLAPSE_CHECK(defined() && src.defined(), "Tensor::copy_: undefined tensor");
  COLLAPSE_CHECK(shape_ == src.shape_, "Tensor::copy_: shape mismatch, destination ", str(), ", source ", src.str());
  storage_->bump_version();
  if (device_.is_cpu() && src.device_.is_cpu()) {
    if (dtype_ == src.dtype_) return cpu_copy_same_dtype(*this, src);
    dispatch_dtype(dtype_, [&](auto dt) {
      dispatch_dtype(src.dtype_, [&](auto st) {
        using D = decltype(dt);
        using S = decltype(st);
        strided_convert(data<D>(), strides_, src.data<S>(), src.strides_, shape_);
      });
    });
    return;
  }
  // Within one accelerator, same dtype: the device copies through strides itself.
  if (device_ == src.device_ && dtype_ == src.dtype_ && !(is_dense() && ((is_contiguous() && src.is_contiguous()) ||
                                                                       (is_channels_last() && src.is_channels_last())))) {
    device_allocator(device_.type).copy_strided(raw_data(), strides_, src.raw_data(), src.strides_, shape_, dtype_);
    return;
  }
  // Across devices: bring the source to the destination's dtype and layout on the host side, then
  // one bulk transfer.
  if (dtype_ == src.dtype_ && is_dense() && ((is_contiguous() && src.is_contiguous()) || (is_channels_last() && src.is_channels_last()))) {
    DeviceType t = device_.is_cuda() ? DeviceType::cuda : src.device_.type;
    device_allocator(t).copy(raw_data(), device_, src.raw_data(), src.device_, nbytes());
    return;
  }
  if (src.device_.is_cpu()) {
    Tensor staged = empty(shape_, dtype_, Device::cpu(), is_channels_last() ? MemoryFormat::channels_last : MemoryFormat::contiguous);
    staged.copy_(src);
    COLLAPSE_CHECK(is_dense(), "Tensor::copy_: strided destination on ", device_.str(), " is not supported");
    copy_(staged);
    return;
  }
  COLLAPSE_CHECK(src.is_dense(), "Tensor::copy_: strided source on ", src.device_.str(), " is not supported");
  Tensor staged = empty(src.shape_, src.dtype_, Device::cpu(),
                        src.is_channels_last() ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  staged.copy_(src);
  copy_(staged);
}

void Tensor::fill_(double value) {
  COLLAPSE_CHECK(defined(), "Tensor::fill_: undefined tensor");
  if (!device_.is_cpu()) {
    Tensor host = full(shape_, value, dtype_, Device::cpu());
    copy_(host);
    return;
  }
  storage_->bump_version();
  dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    T* p = data<T>();
    const T v = static_cast<T>(value);
    if (is_dense()) {
      std::fill(p, p + numel(), v);
    } else {
      for_each_offset_pair(shape_, strides_, strides_, [&](int64_t o, int64_t) { p[o] = v; });
    }
  });
}

void Tensor::zero_() {
  if (is_dense()) {
    storage_->bump_version();
    device_allocator(device_.type).memset_zero(raw_data(), nbytes());
  } else {
    fill_(0.0);
  }
}

double Tensor::item() const {
  COLLAPSE_CHECK(numel() == 1, "Tensor::item: tensor has ", numel(), " elements: ", str());
  return to_double_vector()[0];
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  COLLAPSE_CHECK(static_cast<int64_t>(index.size()) == dim(), "Tensor::at: ", index.size(), " indices for ", str());
  COLLAPSE_CHECK(device_.is_cpu(), "Tensor::at: tensor on ", device_.str());
  int64_t off = 0, d = 0;
  for (int64_t i : index) {
    COLLAPSE_CHECK(i >= 0 && i < shape_[d], "Tensor::at: index ", i, " out of range in dim ", d, " of ", str());
    off += i * strides_[d++];
  }
  double out = 0;
  dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    out = static_cast<double>(data<T>()[off]);
  });
  return out;
}

std::vector<double> Tensor::to_double_vector() const {
  Tensor host = to(Device::cpu());
  std::vector<double> out(static_cast<size_t>(numel()));
  Shape cs = contiguous_strides(shape_);
  dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    strided_convert(out.data(), cs, host.data<T>(), host.strides_, shape_);
  });
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_str(shape_) << " " << device_.str();
  if (dim() == 4) os << (is_channels_last() ? " channels_last" : is_contiguous() ? " nchw" : " strided");
  return os.str();
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string index = s.substr(5);
    if (!index.empty() && index.size() <= 4 && index.find_first_not_of("0123456789") == std::string::npos)
      return cuda(std::stoi(index));
  }
  COLLAPSE_FAIL("unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

}  // namespace collapse
