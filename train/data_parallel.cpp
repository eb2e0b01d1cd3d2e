#include "train/data_parallel.h"

#include <algorithm>

#include "core/error.h"

namespace collapse {

GradientSynchronizer::GradientSynchronizer(std::vector<Variable> params, distributed::Communicator& comm,
                                           DataParallelOptions options)
    : comm_(comm), options_(options) {
  COLLAPSE_CHECK(options_.bucket_bytes > 0, "GradientSynchronizer: bucket size must be positive");
  std::vector<int64_t> sizes;
  const int64_t bucket_elements = std::max<int64_t>(1, options_.bucket_bytes / static_cast<int64_t>(sizeof(float)));
  int64_t filled = 0;
  // Reverse registration order: backward produces the last layer's gradients first.
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (!it->requires_grad()) continue;
    COLLAPSE_CHECK(it->data().dtype() == DType::f32, "data parallelism: parameter ", it->data().str(),
                   " is not float32");
    const int64_t n = it->data().numel();
    if (sizes.empty() || (filled > 0 && filled + n > bucket_elements)) {
      sizes.push_back(0);
      filled = 0;
    }
    slots_.push_back({*it, static_cast<int64_t>(sizes.size()) - 1, filled, false});
    filled += n;
    sizes.back() = filled;
  }
  const Device device = slots_.empty() ? Device::cpu() : slots_.front().param.data().device();
  for (int64_t n : sizes) buckets_.push_back({Tensor::zeros({n}, DType::f32, device), 0, nullptr});
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].param.set_post_accumulate_hook([this, i] { on_gradient(i); });
  begin_step();
}

GradientSynchronizer::~GradientSynchronizer() {
  for (Slot& s : slots_) s.param.set_post_accumulate_hook({});
}

void GradientSynchronizer::begin_step() {
  for (Bucket& b : buckets_) {
    if (b.request) b.request->wait();
    b.request.reset();
    b.pending = 0;
  }
  for (Slot& s : slots_) {
    s.ready = false;
    ++buckets_[static_cast<size_t>(s.bucket)].pending;
  }
}

void GradientSynchronizer::on_gradient(size_t index) {
  Slot& s = slots_[index];
  Bucket& b = buckets_[static_cast<size_t>(s.bucket)];
  // A parameter used twice in one forward gets a second gradient after its bucket may already travel:
  // summing what had been sent would be wrong, so say so (PyTorch's DDP refuses this case too).
  COLLAPSE_CHECK(!s.ready, "data parallelism: a parameter of shape ", s.param.data().str(),
                 " received a second gradient in one backward pass (a parameter used twice per step); "
                 "this is not supported");
  s.ready = true;
  const int64_t n = s.param.data().numel();
  b.flat.narrow(0, s.offset, n).view(s.param.data().shape()).copy_(s.param.grad());
  if (--b.pending == 0 && options_.overlap) start(b);
  // MPI makes progress on started operations only inside its calls: test the ones in flight.
  for (Bucket& other : buckets_)
    if (other.request) other.request->test();
}

void GradientSynchronizer::start(Bucket& bucket) {
  bucket.request = comm_.start_all_reduce_sum(bucket.flat.data<float>(), bucket.flat.numel());
}

void GradientSynchronizer::finish() {
  // Parameters that got no gradient this step (unused in the forward) contribute zeros, so every rank
  // still joins every bucket's all-reduce.
  for (Slot& s : slots_)
    if (!s.ready) {
      Bucket& b = buckets_[static_cast<size_t>(s.bucket)];
      b.flat.narrow(0, s.offset, s.param.data().numel()).zero_();
      --b.pending;
    }
  const auto t0 = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_)
    if (!b.request) start(b);
  for (Bucket& b : buckets_) b.request->wait();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (Slot& s : slots_) {
    const Tensor summed = buckets_[static_cast<size_t>(s.bucket)].flat.narrow(0, s.offset, s.param.data().numel())
                              .view(s.param.data().shape());
    if (Tensor grad = s.param.grad(); grad.defined()) grad.copy_(summed);  // a handle on the same storage
    else s.param.set_grad(summed.clone());
  }
  for (Bucket& b : buckets_) b.request.reset();
}

namespace {

// Broadcasts one tensor in place, through a host copy when it is not a dense CPU tensor.
void broadcast_tensor(Tensor& t, distributed::Communicator& comm, int root) {
  if (t.device().is_cpu() && t.is_contiguous()) {
    comm.broadcast(t.raw_data(), static_cast<int64_t>(t.nbytes()), root);
    return;
  }
  Tensor host = t.to(Device::cpu()).contiguous();
  if (host.storage() == t.storage()) host = host.clone();
  comm.broadcast(host.raw_data(), static_cast<int64_t>(host.nbytes()), root);
  t.copy_(host);
}

void broadcast_all(NamedTensors& tensors, distributed::Communicator& comm, int root) {
  for (auto& [name, t] : tensors) broadcast_tensor(t, comm, root);
}

}  // namespace

void broadcast_training_state(Module& model, SGD* optimizer, distributed::Communicator& comm, int root) {
  if (comm.size() == 1) return;
  StateDict state = model.state_dict();
  broadcast_all(state, comm, root);
  model.load_state_dict(state);
  if (optimizer) {
    NamedTensors sgd_state = optimizer->state_dict();
    broadcast_all(sgd_state, comm, root);
    optimizer->load_state_dict(sgd_state);
  }
}

void broadcast_buffers(Module& model, distributed::Communicator& comm, int root) {
  if (comm.size() == 1) return;
  for (auto& [name, buffer] : model.named_buffers()) {
    Tensor t = buffer;
    broadcast_tensor(t, comm, root);
  }
}

}  // namespace collapse
