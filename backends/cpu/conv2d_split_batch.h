#pragma once
// Backward-weights of the direct route with the minibatch split by us, not by oneDNN.
//
// oneDNN's direct backward-weights kernels (jit:avx512_core, jit_1x1) give each thread a share of the
// minibatch when the weights are small, and add the threads' partial gradients after a barrier of their
// own that spins without ever sleeping. When a partner thread has lost its CPU (another program runs
// there, or two of our threads share one core), the spinning thread burns its whole timeslice there.
// Measured on a 2-core machine with both threads pinned to one core (taskset -c 0, bench-train-step
// --profile, width 0.25, batch 128): DenseNet40's 39 backward convolutions took 189 ms per step against
// 74 ms on one thread, ResNet18's 135 against 96; everything else ran at one thread's speed.
//
// So for small weights the cpu backend splits the minibatch itself (backends/cpu/conv2d.cpp): each thread
// of the team runs a one-thread primitive on its N/T images into a gradient of its own, and the team adds
// the T gradients in a fixed order after an OpenMP barrier, which waits as the OpenMP policy says
// (core/openmp_policy.h). Large weights keep oneDNN's own threading, which divides their channels and
// needs no reduction. The split depends on the shapes and the thread count only, as oneDNN's does, so a
// run is reproducible.
#include "core/tensor.h"

namespace collapse::cpu {

// Weights up to this size take the split (1 MiB: every DenseNet-BC weight; ResNet18 up to 128->128 3x3).
constexpr int64_t kMaxWeightBytesForBatchSplit = int64_t{1} << 20;

// The number of minibatch shares for a backward-weights of input `x` [N,C,H,W] and weights `w` on a team
// of `threads`: `threads` when it divides N and the weights are small enough, else 1 (oneDNN's threading).
int backward_weights_split(const Shape& x, const Shape& w, int threads);

}  // namespace collapse::cpu
