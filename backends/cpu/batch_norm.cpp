// Batch norm on oneDNN (channels-last JIT kernels), with the running statistics kept here: oneDNN only
// normalises and reports the batch mean and biased variance.
#include "backends/cpu/batch_norm.h"

#include <cstring>

namespace collapse::cpu {

BnShape check_bn_input(const char* op, const Tensor& x) {
  check_f32_cpu(op, "input x", x);
  COLLAPSE_CHECK(x.dim() == 2 || x.dim() == 4, op, ": input x must be [N,C] or [N,C,H,W], got ",
                 shape_str(x.shape()));
  return {x.shape(), x.size(1), x.numel() / std::max<int64_t>(x.size(1), 1)};
}

void check_channel_vector(const char* op, const char* name, const Tensor& t, const Tensor& x, bool optional) {
  if (optional && !t.defined()) return;
  check_f32_cpu(op, name, t);
  check_shape(op, name, t, {x.size(1)}, "input x", x);
}

void update_running_stats(Tensor& running_mean, Tensor& running_var, const float* mean, const float* var,
                          double momentum, int64_t count) {
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (auto [running, batch, factor] : {std::tuple{&running_mean, mean, 1.0}, {&running_var, var, unbias}}) {
    if (!running->defined()) continue;
    StagedOutput r(*running, MemoryFormat::contiguous, /*read_too=*/true);
    float* rp = r.data();
    for (int64_t c = 0; c < running->numel(); ++c)
      rp[c] = static_cast<float>((1.0 - momentum) * rp[c] + momentum * factor * batch[c]);
    r.finish();
    running->storage()->bump_version();
  }
}

namespace {

using dnnl::normalization_flags;
using dnnl::prop_kind;

normalization_flags affine_flags(bool scale, bool shift) {
  auto f = normalization_flags::none;
  if (scale) f = f | normalization_flags::use_scale;
  if (shift) f = f | normalization_flags::use_shift;
  return f;
}

float eps_f(double eps) { return static_cast<float>(eps); }

Key bn_key(const char* op, const BnShape& s, double eps, normalization_flags flags) {
  int64_t eps_bits = 0;
  std::memcpy(&eps_bits, &eps, sizeof eps);
  return Key(op) << s.x << eps_bits << static_cast<int64_t>(flags);
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const BnShape& s, prop_kind kind, double eps,
                                                             normalization_flags flags) {
  return {{kind, fast_md(s.x), eps_f(eps), flags}, user_scratchpad_attr(), engine()};
}

struct BnEntry {
  Prim prim;
};
Cache<BnEntry> g_train, g_eval, g_backward;

void cpu_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                  Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var) {
  const char* op = "batch_norm_forward_train";
  const BnShape s = check_bn_input(op, x);
  check_channel_vector(op, "weight gamma", gamma, x, true);
  check_channel_vector(op, "bias beta", beta, x, true);
  check_channel_vector(op, "running_mean", running_mean, x, true);
  check_channel_vector(op, "running_var", running_var, x, true);
  check_channel_vector(op, "save_mean", save_mean, x);
  check_channel_vector(op, "save_var", save_var, x);
  check_f32_cpu(op, "output y", y);
  check_same_shape(op, "input x", x, "output y", y);
  COLLAPSE_CHECK(s.count > 1, op, ": expected more than one value per channel in training, got input x ",
                 shape_str(x.shape()));
  const auto flags = affine_flags(gamma.defined(), beta.defined());
  BnEntry& e = g_train.get(bn_key("bn_train", s, eps, flags), [&] {
    return BnEntry{Prim(forward_pd(s, prop_kind::forward_training, eps, flags))};
  });
  const Tensor xin = fast_input(x), g = vector_input(gamma), b = vector_input(beta);
  StagedOutput out(y), mean(save_mean, MemoryFormat::contiguous), var(save_var, MemoryFormat::contiguous);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()},
                  {DNNL_ARG_SCALE, data_or_null(g)},
                  {DNNL_ARG_SHIFT, data_or_null(b)},
                  {DNNL_ARG_DST, out.get().raw_data()},
                  {DNNL_ARG_MEAN, mean.data()},
                  {DNNL_ARG_VARIANCE, var.data()}});
  update_running_stats(running_mean, running_var, mean.data(), var.data(), momentum, s.count);
  out.finish();
  mean.finish();
  var.finish();
}

void cpu_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, double eps, Tensor& y) {
  const char* op = "batch_norm_forward_eval";
  const BnShape s = check_bn_input(op, x);
  check_channel_vector(op, "weight gamma", gamma, x, true);
  check_channel_vector(op, "bias beta", beta, x, true);
  check_channel_vector(op, "running_mean", running_mean, x);
  check_channel_vector(op, "running_var", running_var, x);
  check_f32_cpu(op, "output y", y);
  check_same_shape(op, "input x", x, "output y", y);
  const auto flags = affine_flags(gamma.defined(), beta.defined()) | normalization_flags::use_global_stats;
  BnEntry& e = g_eval.get(bn_key("bn_eval", s, eps, flags), [&] {
    return BnEntry{Prim(forward_pd(s, prop_kind::forward_inference, eps, flags))};
  });
  const Tensor xin = fast_input(x), g = vector_input(gamma), b = vector_input(beta);
  const Tensor rm = vector_input(running_mean), rv = vector_input(running_var);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()},
                  {DNNL_ARG_SCALE, data_or_null(g)},
                  {DNNL_ARG_SHIFT, data_or_null(b)},
                  {DNNL_ARG_MEAN, rm.raw_data()},
                  {DNNL_ARG_VARIANCE, rv.raw_data()},
                  {DNNL_ARG_DST, out.get().raw_data()}});
  out.finish();
}

void cpu_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                             const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "batch_norm_backward";
  const BnShape s = check_bn_input(op, x);
  check_f32_cpu(op, "output gradient dy", dy);
  check_same_shape(op, "output gradient dy", dy, "input x", x);
  check_f32_cpu(op, "input gradient dx", dx);
  check_same_shape(op, "input gradient dx", dx, "input x", x);
  check_channel_vector(op, "weight gamma", gamma, x, true);
  check_channel_vector(op, "save_mean", save_mean, x);
  check_channel_vector(op, "save_var", save_var, x);
  check_channel_vector(op, "weight gradient dgamma", dgamma, x, true);
  check_channel_vector(op, "bias gradient dbeta", dbeta, x, true);
  COLLAPSE_CHECK(gamma.defined() || !dgamma.defined(), op, ": dgamma requested without gamma");
  // prop_kind::backward computes the scale/shift gradients of the flags it is given; backward_data none.
  const bool params = dgamma.defined() || dbeta.defined();
  const auto flags = affine_flags(gamma.defined(), dbeta.defined());
  BnEntry& e = g_backward.get(bn_key("bn_bwd", s, eps, flags) << int64_t{params}, [&] {
    dnnl::batch_normalization_backward::desc d(params ? prop_kind::backward : prop_kind::backward_data, fast_md(s.x),
                                               fast_md(s.x), eps_f(eps), flags);
    return BnEntry{Prim(dnnl::batch_normalization_backward::primitive_desc(
        d, user_scratchpad_attr(), engine(), forward_pd(s, prop_kind::forward_training, eps, flags)))};
  });
  const Tensor dyin = fast_input(dy), xin = fast_input(x), g = vector_input(gamma);
  const Tensor mean = vector_input(save_mean), var = vector_input(save_var);
  StagedOutput dx_out(dx);
  // With gamma but no dgamma wanted, oneDNN still writes the scale gradient: give it a throwaway.
  Tensor dgamma_work = dgamma.defined() || !params || !gamma.defined() ? dgamma : Tensor::empty({s.channels});
  std::optional<StagedOutput> dg, db;
  if (dgamma_work.defined()) dg.emplace(dgamma_work, MemoryFormat::contiguous);
  if (dbeta.defined()) db.emplace(dbeta, MemoryFormat::contiguous);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()},
                  {DNNL_ARG_MEAN, mean.raw_data()},
                  {DNNL_ARG_VARIANCE, var.raw_data()},
                  {DNNL_ARG_DIFF_DST, dyin.raw_data()},
                  {DNNL_ARG_SCALE, data_or_null(g)},
                  // oneDNN 2.6 insists on a shift argument whenever use_shift is set, although the gradients
                  // do not depend on beta (which this signature does not pass): any [C] buffer does.
                  {DNNL_ARG_SHIFT, db ? mean.raw_data() : nullptr},
                  {DNNL_ARG_DIFF_SRC, dx_out.get().raw_data()},
                  {DNNL_ARG_DIFF_SCALE, dg ? dg->get().raw_data() : nullptr},
                  {DNNL_ARG_DIFF_SHIFT, db ? db->get().raw_data() : nullptr}});
  dx_out.finish();
  if (dg) dg->finish();
  if (db) db->finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(batch_norm_forward_train, cpu, &cpu_batch_norm_forward_train);
COLLAPSE_REGISTER_KERNEL(batch_norm_forward_eval, cpu, &cpu_batch_norm_forward_eval);
COLLAPSE_REGISTER_KERNEL(batch_norm_backward, cpu, &cpu_batch_norm_backward);

}  // namespace collapse::cpu
