#pragma once
// Plumbing shared by the oneDNN + OpenMP backend (backends/cpu/*.cpp): the engine, layout rules,
// argument checks, and the cache that makes a training step create no primitive after the first one.
//
// Why a cache of our own: oneDNN 2.6 does not cache primitive *descriptors*, and creating one for a
// convolution runs its implementation search (tens to hundreds of microseconds, JIT code generation on
// a miss of the library's own primitive cache). Every op therefore keeps, per shape key, its primitive
// descriptor, its primitive and the dnnl::memory objects that wrap our tensors (their data handles are
// re-pointed at each call), so a second identical call only executes.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backends/kernels.h"
#include "core/tensor.h"

namespace collapse {

// Instrumentation for tests and benchmarks: how many oneDNN primitives the backend has created (a
// steady-state training step must not add any), how many primitive-cache entries exist, and how many
// times convolution weights were reordered into oneDNN's blocked format, and how many activations were
// copied between channels-last and the channel-blocked layout (the Winograd route's reorders, blocked_copy
// included).
size_t cpu_primitive_creations();
size_t cpu_cache_entries();
size_t cpu_weight_reorders();
size_t cpu_activation_reorders();

namespace cpu {

dnnl::engine& engine();
void count_activation_reorder();  // for cpu_activation_reorders()
dnnl::stream& stream();

// ---- layouts. oneDNN's JIT kernels want 4-D activations channels-last (docs/design.md) and everything
// else row-major. Tensors already in that "fast" layout are used in place; the rare other one (a
// row-major NCHW input, a strided view) goes through a copy, so each primitive sees one layout per shape.
MemoryFormat fast_format(const Shape& shape);
bool has_format(const Tensor& t, MemoryFormat format);
// t itself when it is in `format`, else a copy in it.
Tensor in_format(const Tensor& t, MemoryFormat format);
inline Tensor fast_input(const Tensor& t) { return in_format(t, fast_format(t.shape())); }

// C[M,N] = op(A) op(B) + beta C on row-major float matrices (oneDNN's sgemm, which creates no primitive and
// threads with OpenMP); skips empty products, which sgemm rejects.
void gemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float beta, float* C, int64_t ldc);

// An output (or in-place operand) in a given layout: `get()` is the caller's tensor when it is already in
// that layout, else a temporary (holding a copy of dst's values when `read_too`) that `finish()` copies back.
class StagedOutput {
 public:
  StagedOutput(Tensor& dst, MemoryFormat format, bool read_too = false);
  explicit StagedOutput(Tensor& dst) : StagedOutput(dst, fast_format(dst.shape())) {}
  Tensor& get() { return work_; }
  float* data() { return work_.data<float>(); }
  void finish();

 private:
  Tensor& dst_;
  Tensor work_;
};

// A convolution weights gradient that a primitive writes in its own `format`: straight into the caller's
// row-major (oihw) `dw` when that is the format, else into a temporary of this call's own (concurrent calls
// never share it; the caching allocator makes it free in the steady state) that finish() reorders into dw.
class WeightsGradientOutput {
 public:
  WeightsGradientOutput(const dnnl::memory::desc& format, Tensor& dw);
  void* data() { return work_.defined() ? work_.raw_data() : dw_.raw_data(); }
  void finish();

 private:
  dnnl::memory::desc format_;
  Tensor& dw_;
  Tensor work_;
};

// An optional argument's buffer for Prim::execute.
inline const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

dnnl::memory::dims dims_of(const Shape& shape);
// f32 descriptor of a tensor of `shape` in the fast layout, described by its real strides.
dnnl::memory::desc fast_md(const Shape& shape);
dnnl::memory::desc plain_md(const Shape& shape);  // row-major (oihw weights, [C] statistics)
dnnl::memory::desc any_weights(const Shape& w);     // format_tag::any: the primitive picks its weights format
dnnl::primitive_attr user_scratchpad_attr();
// The same, with a ReLU applied to the primitive's output as it is written (a post-op) when `relu`.
dnnl::primitive_attr user_scratchpad_attr(bool relu);

// ---- cache keys: an op name followed by integers (shapes, parameters)
class Key {
 public:
  explicit Key(const char* op) : s_(op) {}
  Key& operator<<(int64_t v);
  Key& operator<<(const Shape& shape);
  Key& operator<<(const dnnl::memory::desc& md);  // its bytes: format, dims and strides
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

// One primitive with the dnnl::memory objects of its arguments, made once. `execute` re-points the
// memories at this call's buffers (null ones are skipped: absent optional arguments) and runs on the
// global stream, synchronously.
//
// Scratchpad: user-managed (scratchpad_mode::user), all primitives sharing one buffer that grows only
// when a primitive needing more is created. Executions are serialised by a lock (one in-order stream),
// so one buffer is enough; this keeps memory at the largest single need rather than the sum over
// primitives (the library's per-primitive scratchpads would sum), and never allocates at execution.
class Prim {
 public:
  explicit Prim(const dnnl::primitive_desc& pd) : Prim(pd, dnnl::primitive(pd)) {}
  explicit Prim(const dnnl::reorder::primitive_desc& pd) : Prim(pd, dnnl::reorder(pd)) {}
  void execute(std::initializer_list<std::pair<int, const void*>> buffers);

 private:
  Prim(const dnnl::primitive_desc_base& pd, dnnl::primitive prim);
  dnnl::primitive_desc_base pd_;
  dnnl::primitive prim_;
  size_t scratchpad_bytes_;
  std::unordered_map<int, dnnl::memory> args_;
};

void count_cache_entry();

// A primitive that the threads of one OpenMP team run at the same time, each call on its own slot: its own
// argument objects, scratchpad and stream (oneDNN primitives may run concurrently when their scratchpads
// differ). Create its descriptor inside a OneThreadScope: oneDNN fixes a kernel's split between threads
// when it is created, and a primitive running inside a parallel region gets one thread.
class TeamPrim {
 public:
  TeamPrim(const dnnl::primitive_desc& pd, int slots);
  void execute(int slot, std::initializer_list<std::pair<int, const void*>> buffers);  // as Prim::execute

 private:
  struct Slot {
    std::unordered_map<int, dnnl::memory> args;
    dnnl::stream stream;
    Tensor scratchpad;
  };
  dnnl::primitive_desc_base pd_;
  dnnl::primitive prim_;
  std::vector<Slot> slots_;
};

// Sets this thread's OpenMP team size to one until the end of the scope (when `active`). oneDNN (OpenMP
// runtime) sizes its parallel sections from omp_get_max_threads() when a primitive is created and when it
// runs, so a primitive created and run inside the scope runs on this thread only.
class OneThreadScope {
 public:
  explicit OneThreadScope(bool active);
  ~OneThreadScope();
  OneThreadScope(const OneThreadScope&) = delete;
  OneThreadScope& operator=(const OneThreadScope&) = delete;

 private:
  int saved_;
};

// Entries are created once per key and never erased, so references stay valid.
template <class Entry>
class Cache {
 public:
  template <class Make>
  Entry& get(const Key& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key.str());
    if (it != map_.end()) return *it->second;
    auto entry = std::make_unique<Entry>(make());
    count_cache_entry();
    return *map_.emplace(key.str(), std::move(entry)).first->second;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> map_;
};

// A reorder between two descriptors (cached by the pair).
void reorder(const dnnl::memory::desc& from, const void* src, const dnnl::memory::desc& to, void* dst);

// How a convolution reads its weights: as they are, or (a stride-1 backward-data run as a forward
// convolution) flipped in both spatial dimensions with input and output channels swapped:
// w'[ci, co, kh, kw] = w[co, ci, K-1-kh, K-1-kw].
enum class WeightsView { as_is, flipped_transposed };

// Convolution weights (plain oihw parameters) in the format a primitive chose, reordered at most once per
// (weights storage, storage version, view, format): passes of one step that agree on the format share the
// copy, copies in different formats coexist, and an optimizer step (which bumps the version) triggers one
// refresh of each. Returns a pointer valid until the next call for the same weights.
const void* reordered_weights(const Tensor& w, const dnnl::memory::desc& format,
                              WeightsView view = WeightsView::as_is);

}  // namespace cpu
}  // namespace collapse
