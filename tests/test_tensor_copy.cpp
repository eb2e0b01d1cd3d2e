// Tensor::copy_ on the CPU between channel slices of channels-last tensors (DenseNet's block buffer takes
// each layer's output into its channels this way, and batch norm copies a narrow slice out of it): every
// run length the fixed-size copies cover (1 to 64 floats), the run-time-sized copy beyond, other element
// sizes, and padding around the slice that must stay untouched. Each element is checked by its logical
// index against the source.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/tensor.h"

using namespace collapse;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::channels_last;

// A channels-last [N, C, H, W] tensor whose element at flat storage index i holds i + base (distinct).
Tensor numbered(const Shape& shape, DType dtype, double base) {
  Tensor t = Tensor::empty(shape, dtype, Device::cpu(), kCL);
  std::vector<double> values(t.numel());
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 200) + base;
  const Tensor from = Tensor::from_vector(values, {t.numel()}).to(dtype);
  std::memcpy(t.raw_data(), from.raw_data(), t.nbytes());
  return t;
}

}  // namespace

TEST(TensorCopy, ChannelSlicesOfEveryShortRunLengthAndBeyond) {
  std::vector<int64_t> channel_counts;
  for (int64_t c = 1; c <= 66; ++c) channel_counts.push_back(c);
  channel_counts.push_back(131);
  for (DType dtype : {DType::f32, DType::f64, DType::u8})
    for (int64_t C : channel_counts) {
      if (dtype != DType::f32 && C % 7 != 1) continue;  // other element sizes: a few lengths suffice
      SCOPED_TRACE(std::to_string(C) + " channels, " + std::string(dtype_name(dtype)));
      const Shape shape{2, C, 3, 5};
      // Source: channels [2, 2 + C) of a wider tensor; destination: channels [3, 3 + C) of another.
      const Tensor src_wide = numbered({2, C + 4, 3, 5}, dtype, 0.0);
      Tensor dst_wide = numbered({2, C + 5, 3, 5}, dtype, 50.0);
      const Tensor before = dst_wide.clone();
      const Tensor src = src_wide.narrow(1, 2, C);
      Tensor dst = dst_wide.narrow(1, 3, C);
      ASSERT_FALSE(src.is_dense());
      dst.copy_(src);
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t c = 0; c < C + 5; ++c)
          for (int64_t h = 0; h < shape[2]; ++h)
            for (int64_t w = 0; w < shape[3]; ++w) {
              const bool inside = c >= 3 && c < 3 + C;
              const double want = inside ? src_wide.at({n, c - 1, h, w}) : before.at({n, c, h, w});
              ASSERT_EQ(dst_wide.at({n, c, h, w}), want) << "at " << n << "," << c << "," << h << "," << w;
            }
      // And out of a slice into a dense tensor (batch norm's copy of a narrow input).
      Tensor dense = Tensor::empty(shape, dtype, Device::cpu(), kCL);
      dense.copy_(src);
      EXPECT_EQ(dense.to_double_vector(), src.to_double_vector());
    }
}
