#include "backends/cpu/onednn_common.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <vector>

namespace collapse {
namespace {
std::atomic<size_t> g_primitive_creations{0};
std::atomic<size_t> g_cache_entries{0};
std::atomic<size_t> g_weight_reorders{0};
std::atomic<size_t> g_activation_reorders{0};
}  // namespace

size_t cpu_primitive_creations() { return g_primitive_creations.load(); }
size_t cpu_cache_entries() { return g_cache_entries.load(); }
size_t cpu_weight_reorders() { return g_weight_reorders.load(); }
size_t cpu_activation_reorders() { return g_activation_reorders.load(); }

namespace cpu {
void count_activation_reorder() { ++g_activation_reorders; }
namespace {

// Executions share the stream and the scratchpad buffer, so they are serialised.
std::mutex g_exec_mutex;

// The one scratchpad buffer (see Prim). Grows when a primitive needing more is created; only then.
struct Scratchpad {
  void* data = nullptr;
  size_t bytes = 0;
  void reserve(size_t n) {
    if (n <= bytes) return;
    std::free(data);
    bytes = (n + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
    data = std::aligned_alloc(kStorageAlignment, bytes);
    COLLAPSE_CHECK(data, "cpu backend: out of memory allocating a ", bytes, "-byte oneDNN scratchpad");
  }
};
Scratchpad g_scratchpad;  // guarded by g_exec_mutex

}  // namespace

void count_cache_entry() { ++g_cache_entries; }

OneThreadScope::OneThreadScope(bool active) : saved_(active ? omp_get_max_threads() : 0) {
  if (saved_ > 1) omp_set_num_threads(1);
}
OneThreadScope::~OneThreadScope() {
  if (saved_ > 1) omp_set_num_threads(saved_);
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// ---- layouts

MemoryFormat fast_format(const Shape& shape) {
  return shape.size() == 4 ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}

bool has_format(const Tensor& t, MemoryFormat format) {
  return format == MemoryFormat::channels_last ? t.is_channels_last() : t.is_contiguous();
}

Tensor in_format(const Tensor& t, MemoryFormat format) { return has_format(t, format) ? t : t.contiguous(format); }

StagedOutput::StagedOutput(Tensor& dst, MemoryFormat format, bool read_too) : dst_(dst) {
  if (has_format(dst, format)) {
    work_ = dst;
  } else {
    work_ = Tensor::empty(dst.shape(), dst.dtype(), dst.device(), format);
    if (read_too) work_.copy_(dst);
  }
}

void StagedOutput::finish() {
  if (work_.storage() != dst_.storage()) dst_.copy_(work_);
}

WeightsGradientOutput::WeightsGradientOutput(const dnnl::memory::desc& format, Tensor& dw) : format_(format), dw_(dw) {
  COLLAPSE_CHECK(dw.is_contiguous(), "conv weights gradient ", dw.str(), " must be row-major");
  if (format != plain_md(dw.shape()))
    work_ = Tensor::empty({static_cast<int64_t>((format.get_size() + sizeof(float) - 1) / sizeof(float))});
}

void WeightsGradientOutput::finish() {
  if (work_.defined()) reorder(format_, work_.raw_data(), plain_md(dw_.shape()), dw_.raw_data());
}

dnnl::memory::dims dims_of(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::desc fast_md(const Shape& shape) {
  Shape st = fast_format(shape) == MemoryFormat::channels_last ? channels_last_strides(shape) : contiguous_strides(shape);
  return dnnl::memory::desc(dims_of(shape), dnnl::memory::data_type::f32, dims_of(st));
}

dnnl::memory::desc plain_md(const Shape& shape) {
  return dnnl::memory::desc(dims_of(shape), dnnl::memory::data_type::f32, dims_of(contiguous_strides(shape)));
}

dnnl::memory::desc any_weights(const Shape& w) {
  return dnnl::memory::desc(dims_of(w), dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr user_scratchpad_attr(bool relu) {
  dnnl::primitive_attr attr = user_scratchpad_attr();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

// ---- keys

Key& Key::operator<<(int64_t v) {
  s_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}

Key& Key::operator<<(const Shape& shape) {
  *this << static_cast<int64_t>(shape.size());
  for (int64_t d : shape) *this << d;
  return *this;
}

Key& Key::operator<<(const dnnl::memory::desc& md) {
  // oneDNN zero-initialises descriptors before filling them, so equal descriptors have equal bytes.
  s_.append(reinterpret_cast<const char*>(&md.data), sizeof md.data);
  return *this;
}

// ---- primitives

Prim::Prim(const dnnl::primitive_desc_base& pd, dnnl::primitive prim)
    : pd_(pd), prim_(std::move(prim)), scratchpad_bytes_(pd.scratchpad_desc().get_size()) {
  ++g_primitive_creations;
  std::lock_guard<std::mutex> lock(g_exec_mutex);
  g_scratchpad.reserve(scratchpad_bytes_);
}

namespace {
// Points argument `arg` of a primitive at `data`. The first call makes a memory object without a buffer,
// which every later call re-points.
void bind_arg(const dnnl::primitive_desc_base& pd, std::unordered_map<int, dnnl::memory>& args, int arg,
              const void* data) {
  auto it = args.find(arg);
  if (it == args.end())
    it = args.emplace(arg, dnnl::memory(pd.query_md(dnnl::query::exec_arg_md, arg), engine(), DNNL_MEMORY_NONE)).first;
  it->second.set_data_handle(const_cast<void*>(data));
}
}  // namespace

void Prim::execute(std::initializer_list<std::pair<int, const void*>> buffers) {
  std::lock_guard<std::mutex> lock(g_exec_mutex);
  for (const auto& [arg, data] : buffers)
    if (data) bind_arg(pd_, args_, arg, data);  // null: an optional argument (bias) this call does not have
  if (scratchpad_bytes_ > 0) bind_arg(pd_, args_, DNNL_ARG_SCRATCHPAD, g_scratchpad.data);
  try {
    prim_.execute(stream(), args_);
    stream().wait();
  } catch (const dnnl::error& e) {
    std::string bound;
    for (const auto& [arg, mem] : args_) bound += " " + std::to_string(arg) + ":" + std::to_string(mem.get_desc().get_size());
    COLLAPSE_FAIL("cpu backend: oneDNN ", pd_.impl_info_str(), " failed to execute (", e.what(), ", status ",
                  static_cast<int>(e.status), "); arguments (id:bytes)", bound);
  }
}

TeamPrim::TeamPrim(const dnnl::primitive_desc& pd, int slots) : pd_(pd), prim_(pd) {
  ++g_primitive_creations;
  const size_t scratchpad_bytes = pd.scratchpad_desc().get_size();
  slots_.reserve(static_cast<size_t>(slots));
  for (int i = 0; i < slots; ++i) {
    Slot slot{{}, dnnl::stream(engine()), {}};
    if (scratchpad_bytes > 0) {
      slot.scratchpad = Tensor::empty({static_cast<int64_t>((scratchpad_bytes + sizeof(float) - 1) / sizeof(float))});
      slot.args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), engine(), slot.scratchpad.raw_data()));
    }
    slots_.push_back(std::move(slot));
  }
}

void TeamPrim::execute(int slot, std::initializer_list<std::pair<int, const void*>> buffers) {
  Slot& s = slots_.at(static_cast<size_t>(slot));
  for (const auto& [arg, data] : buffers)
    if (data) bind_arg(pd_, s.args, arg, data);
  try {
    prim_.execute(s.stream, s.args);
    s.stream.wait();
  } catch (const dnnl::error& e) {
    COLLAPSE_FAIL("cpu backend: oneDNN ", pd_.impl_info_str(), " failed to execute on a team thread (", e.what(),
                  ", status ", static_cast<int>(e.status), ")");
  }
}

namespace {
struct ReorderEntry {
  Prim prim;
};
Cache<ReorderEntry> g_reorders;
}  // namespace

// Below this size a reorder (the weights of a small convolution and their gradients) runs on the calling
// thread alone: copying a few kilobytes takes less time than waking the OpenMP team and meeting it at the
// closing barrier, and on a busy machine each such meeting waits for a partner's timeslice. A DenseNet40
// width-0.25 step has ~50 of them. A reorder only moves values, so the thread count changes no result.
constexpr size_t kSerialReorderBytes = size_t{64} << 10;

void reorder(const dnnl::memory::desc& from, const void* src, const dnnl::memory::desc& to, void* dst) {
  const bool serial = std::max(from.get_size(), to.get_size()) < kSerialReorderBytes;
  OneThreadScope one_thread(serial);
  ReorderEntry& r = g_reorders.get(Key("reorder") << from << to, [&] {
    return ReorderEntry{Prim(dnnl::reorder::primitive_desc(engine(), from, engine(), to, user_scratchpad_attr()))};
  });
  r.prim.execute({{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
}

// ---- reordered convolution weights

namespace {

struct WeightsCopy {
  std::weak_ptr<Storage> owner;  // expired once the parameter is freed, even if its address is reused
  uint64_t version = 0;
  WeightsView view = WeightsView::as_is;
  dnnl::memory::desc format;
  dnnl::memory buffer;         // allocated once by oneDNN in `format`
  std::vector<float> staging;  // the flipped-transposed weights in plain layout, before the reorder
};

std::mutex g_weights_mutex;
std::map<std::pair<const Storage*, int64_t>, std::vector<WeightsCopy>> g_weights;

// Drops the copies of parameters that no longer exist (tests and evaluation create and free many).
void forget_dead_weights() {
  for (auto it = g_weights.begin(); it != g_weights.end();) {
    if (it->second.empty() || it->second.front().owner.expired())
      it = g_weights.erase(it);
    else
      ++it;
  }
}

Shape view_shape(const Shape& w, WeightsView view) {
  return view == WeightsView::as_is ? w : Shape{w[1], w[0], w[2], w[3]};
}

// out[ci, co, a, b] = w[co, ci, kh-1-a, kw-1-b], both row-major.
void flip_transpose(const float* w, const Shape& shape, float* out) {
  const int64_t co_n = shape[0], ci_n = shape[1], kh = shape[2], kw = shape[3];
#pragma omp parallel for schedule(static) if (co_n * ci_n > 4096)
  for (int64_t ci = 0; ci < ci_n; ++ci)
    for (int64_t co = 0; co < co_n; ++co) {
      const float* src = w + (co * ci_n + ci) * kh * kw;
      float* dst = out + (ci * co_n + co) * kh * kw;
      for (int64_t i = 0; i < kh * kw; ++i) dst[i] = src[kh * kw - 1 - i];
    }
}

// The copy of `w` (viewed as `view`) in `format`, found or made; the weights cache lock must be held.
WeightsCopy& find_copy(const Tensor& w, const dnnl::memory::desc& format, WeightsView view) {
  auto key = std::make_pair(w.storage().get(), w.offset());
  auto it = g_weights.find(key);
  if (it != g_weights.end() && it->second.front().owner.lock() != w.storage()) {
    g_weights.erase(it);  // a freed parameter's storage address was reused
    it = g_weights.end();
  }
  if (it == g_weights.end()) {
    forget_dead_weights();
    it = g_weights.emplace(key, std::vector<WeightsCopy>{}).first;
  }
  for (WeightsCopy& c : it->second)
    if (c.view == view && c.format == format) return c;
  WeightsCopy c{w.storage(), 0, view, format, dnnl::memory(format, engine()), {}};
  if (view != WeightsView::as_is) c.staging.resize(static_cast<size_t>(w.numel()));
  it->second.push_back(std::move(c));
  // Fresh copies start one version behind, so the caller fills them.
  it->second.back().version = w.storage()->version() - 1;
  return it->second.back();
}

}  // namespace

const void* reordered_weights(const Tensor& w, const dnnl::memory::desc& format, WeightsView view) {
  const dnnl::memory::desc plain = plain_md(view_shape(w.shape(), view));
  if (view == WeightsView::as_is && format == plain) return w.raw_data();
  std::lock_guard<std::mutex> lock(g_weights_mutex);
  WeightsCopy& copy = find_copy(w, format, view);
  if (copy.version == w.storage()->version()) return copy.buffer.get_data_handle();
  const float* src = w.data<float>();
  if (view == WeightsView::flipped_transposed) {
    flip_transpose(src, w.shape(), copy.staging.data());
    src = copy.staging.data();
  }
  reorder(plain, src, format, copy.buffer.get_data_handle());
  copy.version = w.storage()->version();
  ++g_weight_reorders;
  return copy.buffer.get_data_handle();
}

void gemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const auto st = dnnl::sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  COLLAPSE_CHECK(st == dnnl::status::success, "cpu gemm: dnnl::sgemm failed (status ", static_cast<int>(st), ")");
}

}  // namespace cpu
}  // namespace collapse
