// The caching CPU allocator (core/storage.cpp): freed blocks are reused by best fit (a cached block at most
// twice the request), and the live-bytes peak counts what tensors hold, not what sits in the cache.
#include <gtest/gtest.h>

#include "core/storage.h"
#include "core/tensor.h"

using namespace collapse;

namespace {
// A size no other test in this process is likely to have cached: the cache is process-wide.
constexpr int64_t kBase = 1'234'567;
}  // namespace

TEST(CpuAllocator, ReusesACachedBlockUpToTwiceTheRequest) {
  { Tensor big = Tensor::empty({kBase}); }  // now cached
  const size_t before = cpu_allocation_count();
  { Tensor smaller = Tensor::empty({kBase * 3 / 5}); }  // fits the cached block, which is < 2x its size
  EXPECT_EQ(cpu_allocation_count(), before) << "a block within 2x of the request must be reused";
  { Tensor same = Tensor::empty({kBase}); }
  EXPECT_EQ(cpu_allocation_count(), before);
  { Tensor tiny = Tensor::empty({kBase / 3}); }  // the cached block is > 2x: a new one, no waste
  EXPECT_EQ(cpu_allocation_count(), before + 1);
  { Tensor larger = Tensor::empty({kBase + 1000}); }  // nothing cached is large enough
  EXPECT_EQ(cpu_allocation_count(), before + 2);
}

TEST(CpuAllocator, TwoLiveTensorsNeverShareABlock) {
  Tensor a = Tensor::empty({kBase / 2 + 17});
  Tensor b = Tensor::empty({kBase / 2 + 17});
  EXPECT_NE(a.raw_data(), b.raw_data());
  a.fill_(1.0);
  b.fill_(2.0);
  EXPECT_EQ(a.to_double_vector()[0], 1.0);
  EXPECT_EQ(b.to_double_vector()[0], 2.0);
}

TEST(CpuAllocator, PeakLiveBytesCountHeldTensorsOnly) {
  cpu_reset_peak_live_bytes();
  const size_t base = cpu_peak_live_bytes();
  {
    Tensor a = Tensor::empty({1 << 20});  // 4 MiB
    Tensor b = Tensor::empty({1 << 20});
    EXPECT_GE(cpu_peak_live_bytes(), base + (size_t{8} << 20));
  }
  const size_t after_two = cpu_peak_live_bytes();
  cpu_reset_peak_live_bytes();  // the peak restarts from what is live now (the 8 MiB went to the cache)
  EXPECT_LT(cpu_peak_live_bytes(), after_two);
  { Tensor c = Tensor::empty({1 << 20}); }
  EXPECT_LT(cpu_peak_live_bytes(), after_two) << "reusing a cached block adds only its own size";
}
