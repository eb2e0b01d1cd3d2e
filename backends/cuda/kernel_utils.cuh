#pragma once
// Device-side building blocks of the CUDA kernels (included from .cu files only): launch sizes,
// strided indexing of several operands at once, and the per-channel reduction used by batch norm and
// the bias gradients.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "backends/cuda/common.h"
#include "backends/cuda/cuda_check.h"

namespace collapse::cuda {

// ---------------------------------------------------------------- launches

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: one thread per item up to 16M items, looping beyond.
inline unsigned int blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, 65536));
}

__device__ inline int64_t grid_thread() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// ---------------------------------------------------------------- strided indexing

// Internal views (broadcasts, slices) are built by the backend itself: a mismatch is a bug, not user input.
inline void check_same_view_shape(const char* op, const View& a, const View& b) {
  COLLAPSE_CHECK(a.shape == b.shape, op, ": shapes differ: ", shape_str(a.shape), " and ", shape_str(b.shape));
  COLLAPSE_CHECK(a.dtype == b.dtype, op, ": dtypes differ: ", dtype_name(a.dtype), " and ", dtype_name(b.dtype));
}

constexpr int kMaxDims = 8;

// The element offsets of K operands that share one logical shape, for a linear index over that shape.
// make_iter() drops size-1 dimensions, orders the rest by operand 0's strides (outermost first, so
// consecutive threads walk operand 0's memory) and merges neighbours that every operand stores
// contiguously. Two tensors of one dense layout become a single dimension of stride 1, a channel slice
// of a channels-last tensor two ([N*H*W] rows of [c] channels), so the common cases cost no division.
template <int K>
struct StridedIter {
  int rank = 1;
  int64_t size[kMaxDims] = {1};
  int64_t stride[K][kMaxDims] = {};

  __host__ __device__ void offsets(int64_t i, int64_t (&out)[K]) const {
    for (int k = 0; k < K; ++k) out[k] = 0;
    for (int d = rank - 1; d > 0; --d) {
      const int64_t q = i / size[d];
      const int64_t index = i - q * size[d];
      for (int k = 0; k < K; ++k) out[k] += index * stride[k][d];
      i = q;
    }
    for (int k = 0; k < K; ++k) out[k] += i * stride[k][0];
  }
};

template <int K>
StridedIter<K> make_iter(const Shape& shape, const std::array<const Shape*, K>& strides) {
  for (int k = 0; k < K; ++k)
    COLLAPSE_CHECK(strides[k]->size() == shape.size(), "make_iter: ", strides[k]->size(), " strides for shape ",
                   shape_str(shape));
  std::vector<size_t> dims;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1) dims.push_back(d);
  std::stable_sort(dims.begin(), dims.end(),
                   [&](size_t a, size_t b) { return (*strides[0])[a] > (*strides[0])[b]; });
  StridedIter<K> it;
  it.rank = 0;
  for (size_t d : dims) {
    bool mergeable = it.rank > 0;
    for (int k = 0; k < K && mergeable; ++k)
      mergeable = it.stride[k][it.rank - 1] == (*strides[k])[d] * shape[d];
    if (mergeable) {
      it.size[it.rank - 1] *= shape[d];
      for (int k = 0; k < K; ++k) it.stride[k][it.rank - 1] = (*strides[k])[d];
      continue;
    }
    COLLAPSE_CHECK(it.rank < kMaxDims, "make_iter: more than ", kMaxDims, " dimensions in ", shape_str(shape));
    it.size[it.rank] = shape[d];
    for (int k = 0; k < K; ++k) it.stride[k][it.rank] = (*strides[k])[d];
    ++it.rank;
  }
  if (it.rank == 0) {  // a single element
    it.rank = 1;
    it.size[0] = 1;
    for (int k = 0; k < K; ++k) it.stride[k][0] = 0;
  }
  return it;
}

// ---------------------------------------------------------------- per-channel layout

// A tensor (or K tensors of one shape) seen as M rows of C channels: M runs over every dimension but 1
// (N, H, W), and operand k's element (m, c) lives at rows.offsets(m)[k] + c * channel_stride[k].
template <int K>
struct ChannelIter {
  StridedIter<K> rows;
  int64_t channel_stride[K] = {};
  int64_t M = 0, C = 0;

  __device__ void offsets(int64_t m, int64_t c, int64_t (&out)[K]) const {
    rows.offsets(m, out);
    for (int k = 0; k < K; ++k) out[k] += c * channel_stride[k];
  }
};

template <int K>
ChannelIter<K> make_channel_iter(const Shape& shape, const std::array<const Shape*, K>& strides) {
  COLLAPSE_CHECK(shape.size() >= 2, "make_channel_iter: needs [N,C,...], got ", shape_str(shape));
  auto drop_dim1 = [](const Shape& s) {
    Shape out = s;
    out.erase(out.begin() + 1);
    return out;
  };
  std::array<Shape, K> row_strides;
  std::array<const Shape*, K> row_stride_ptrs;
  ChannelIter<K> it;
  for (int k = 0; k < K; ++k) {
    row_strides[k] = drop_dim1(*strides[k]);
    row_stride_ptrs[k] = &row_strides[k];
    it.channel_stride[k] = (*strides[k])[1];
  }
  const Shape rows_shape = drop_dim1(shape);
  it.rows = make_iter<K>(rows_shape, row_stride_ptrs);
  it.M = shape_numel(rows_shape);
  it.C = shape[1];
  return it;
}

// ---------------------------------------------------------------- per-channel sums

// Two running sums (batch norm's backward needs sum(dy) and sum(dy * xhat) in one pass; the other users
// leave b at 0). Accumulated in double: the reductions run over up to millions of values per channel,
// and the reference backend sums in double too.
// A plain aggregate (no member initialisers) so that it may live in __shared__ memory; write `Sums s{}`.
struct Sums {
  double a, b;
  __device__ Sums& operator+=(const Sums& o) {
    a += o.a;
    b += o.b;
    return *this;
  }
};

// Stage 1 of a per-channel reduction: block (32 channels x 8 row lanes) number blockIdx.y sums rows
// [blockIdx.y * rows_per_chunk, +rows_per_chunk) of its 32 channels and writes partial[blockIdx.y][c].
// Consecutive threads read consecutive channels: coalesced on channels-last tensors.
// Stage 2 is the caller's "finalize" kernel, which adds each channel's partials with chunk_total(). The
// order of every addition is fixed by the shape alone, so results are bitwise reproducible (no atomics).
// `term(offsets, c)` returns the Sums contribution of one element.
constexpr int kReduceChannels = 32, kReduceLanes = 8;

template <int K, class Term>
__global__ void channel_partial_sums_kernel(ChannelIter<K> it, int64_t rows_per_chunk, Term term, Sums* partial) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kReduceChannels + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t end = min(it.M, begin + rows_per_chunk);
  Sums s{};
  if (c < it.C) {
    for (int64_t m = begin + threadIdx.y; m < end; m += kReduceLanes) {
      int64_t off[K];
      it.offsets(m, c, off);
      s += term(off, c);
    }
  }
  __shared__ Sums lanes[kReduceLanes][kReduceChannels];
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < it.C) {
    Sums total = lanes[0][threadIdx.x];
    for (int y = 1; y < kReduceLanes; ++y) total += lanes[y][threadIdx.x];
    partial[static_cast<int64_t>(blockIdx.y) * it.C + c] = total;
  }
}

// The plain sum of one tensor's values (means, bias gradients).
template <class T>
struct ValueTerm {
  const T* x;
  __device__ Sums operator()(const int64_t (&off)[1], int64_t) const { return {static_cast<double>(x[off[0]]), 0.0}; }
};

// How stage 1 splits the M rows: chunks of at least 256 rows, at most 256 chunks (with the channel
// tiles that is enough blocks to fill an H100's 132 SMs for the activation sizes of CIFAR training).
struct ChunkPlan {
  int64_t rows_per_chunk = 1, chunks = 1;
};
inline ChunkPlan plan_chunks(int64_t M) {
  ChunkPlan p;
  p.rows_per_chunk = std::max<int64_t>(256, (M + 255) / 256);
  p.chunks = std::max<int64_t>(1, (M + p.rows_per_chunk - 1) / p.rows_per_chunk);
  return p;
}

// Launches stage 1 into `partial` (chunks * C Sums in device memory).
template <int K, class Term>
void launch_channel_partial_sums(const ChannelIter<K>& it, const ChunkPlan& plan, const Term& term, Sums* partial) {
  if (it.C == 0) return;
  const dim3 grid(static_cast<unsigned int>((it.C + kReduceChannels - 1) / kReduceChannels),
                  static_cast<unsigned int>(plan.chunks));
  const dim3 block(kReduceChannels, kReduceLanes);
  channel_partial_sums_kernel<K, Term><<<grid, block>>>(it, plan.rows_per_chunk, term, partial);
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

// Stage 2 helper: channel c's partials added in chunk order.
__device__ inline Sums chunk_total(const Sums* partial, int64_t chunks, int64_t C, int64_t c) {
  Sums total{};
  for (int64_t g = 0; g < chunks; ++g) total += partial[g * C + c];
  return total;
}

// Device scratch for the partial sums (a tensor from the caching allocator: free in steady state).
inline Tensor partial_sums_buffer(const ChunkPlan& plan, int64_t C, Device device) {
  const int64_t doubles = 2 * plan.chunks * std::max<int64_t>(C, 1);
  return Tensor::empty({doubles}, DType::f64, device);
}
inline Sums* as_sums(const Tensor& buffer) { return reinterpret_cast<Sums*>(buffer.data<double>()); }

// ---------------------------------------------------------------- logical index decomposition

// Logical (n, c, h, w) of linear index i in NHWC order (c fastest): pooling kernels walk their outputs
// this way, so consecutive threads touch consecutive channels of channels-last tensors.
struct Nchw {
  int64_t n, c, h, w;
};
__device__ inline Nchw nhwc_index(int64_t i, int64_t C, int64_t H, int64_t W) {
  Nchw r;
  r.c = i % C;
  i /= C;
  r.w = i % W;
  i /= W;
  r.h = i % H;
  r.n = i / H;
  return r;
}

// Strides of a 4-D tensor as plain numbers for kernel arguments.
struct Strides4 {
  int64_t n, c, h, w;
  __device__ int64_t at(int64_t in, int64_t ic, int64_t ih, int64_t iw) const { return in * n + ic * c + ih * h + iw * w; }
};
inline Strides4 strides4(const Tensor& t) {
  const Shape& s = t.strides();
  return {s[0], s[1], s[2], s[3]};
}

}  // namespace collapse::cuda
