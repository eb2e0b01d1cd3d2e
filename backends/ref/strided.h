#pragma once
// Strided element access for the reference kernels. Every read and write goes through the tensor's
// strides, so one plain loop serves channels-last, row-major and sliced tensors alike.
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/tensor.h"

namespace collapse::ref {

// A typed window onto a tensor of known rank: view(n, c, h, w) is the element at that logical index.
// T is `const float` for inputs and `float` for outputs.
template <class T, size_t Rank>
class StridedView {
 public:
  StridedView(T* data, const std::array<int64_t, Rank>& strides) : data_(data), strides_(strides) {}
  explicit StridedView(const Tensor& t) : data_(t.data<std::remove_const_t<T>>()) {
    COLLAPSE_CHECK(t.dim() == static_cast<int64_t>(Rank), "StridedView: rank ", Rank, " view of ", t.str());
    for (size_t d = 0; d < Rank; ++d) strides_[d] = t.strides()[d];
  }

  template <class... Index>
  T& operator()(Index... index) const {
    static_assert(sizeof...(Index) == Rank, "one index per dimension");
    const int64_t idx[] = {static_cast<int64_t>(index)...};
    int64_t offset = 0;
    for (size_t d = 0; d < Rank; ++d) offset += idx[d] * strides_[d];
    return data_[offset];
  }

 private:
  T* data_;
  std::array<int64_t, Rank> strides_{};
};

template <class T> using View1 = StridedView<T, 1>;
template <class T> using View2 = StridedView<T, 2>;
template <class T> using View4 = StridedView<T, 4>;

// [N,C,H,W] as is, [N,C] as [N,C,1,1]: lets per-channel ops (batch norm) run one loop for both ranks.
template <class T>
View4<T> nchw_view(const Tensor& t) {
  if (t.dim() == 4) return View4<T>(t);
  COLLAPSE_CHECK(t.dim() == 2, "nchw_view: needs a 2-D or 4-D tensor, got ", t.str());
  // The trailing indices are always 0, so their strides never matter.
  return View4<T>(t.data<std::remove_const_t<T>>(), {t.strides()[0], t.strides()[1], 0, 0});
}

// [N,C,H,W] sizes, with H = W = 1 for [N,C].
struct NchwSizes {
  int64_t n, c, h, w;
  int64_t plane() const { return h * w; }
};
inline NchwSizes nchw_sizes(const Tensor& t) {
  const Shape& s = t.shape();
  return t.dim() == 4 ? NchwSizes{s[0], s[1], s[2], s[3]} : NchwSizes{s[0], s[1], 1, 1};
}

// Calls fn(offsets) for every logical index of `shape` in row-major order; offsets[k] is that index's
// element offset under strides[k]. Lets elementwise kernels pair up tensors of different layouts.
template <size_t K, class Fn>
void for_each_offset(const Shape& shape, const std::array<Shape, K>& strides, Fn&& fn) {
  if (shape_numel(shape) == 0) return;
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> index(shape.size(), 0);
  std::array<int64_t, K> offsets{};
  while (true) {
    fn(offsets);
    // Odometer increment: bump the last dimension, carrying into earlier ones.
    int64_t d = rank - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d]) {
        for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < K; ++k) offsets[k] -= strides[k][d] * (shape[d] - 1);
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace collapse::ref
