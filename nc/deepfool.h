#pragma once
// DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016), the multiclass version (their Algorithm 2):
// the smallest perturbation r that changes the model's decision, found by repeatedly linearising the
// logits around the current point and stepping to the nearest linearised decision boundary:
//
//   x_0 = x,  k̂ = the class to leave,  r_tot = 0
//   while argmax f(x_i) = k̂ and i < max_iter:
//     for each candidate k ≠ k̂:  w'_k = ∇(f_k − f_k̂)(x_i),  f'_k = f_k(x_i) − f_k̂(x_i)
//     l = argmin_k |f'_k| / ‖w'_k‖                      (the nearest linearised boundary)
//     r_tot += (|f'_l| + ε) / ‖w'_l‖² · w'_l
//     x_{i+1} = x_0 + (1 + overshoot) · r_tot
//   r = (1 + overshoot) · r_tot
//
// The robustness measure of NEURAL_COLLAPSE.md §4 is ‖r‖/‖x‖, with x the normalised input tensor exactly
// as the network sees it. For an affine classifier a single step lands (1 + overshoot) times the distance
// to the nearest decision boundary away, which is the minimal perturbation in closed form.
#include <cstdint>

#include "core/tensor.h"
#include "layers/models/network.h"

namespace collapse::nc {

struct DeepFoolOptions {
  double overshoot = 0.02;  // the paper's value: steps land just past the linearised boundary
  int max_iter = 50;        // the reference implementation's cap
  // Only the classes with the largest logits at x_0 are candidates (the reference implementation's
  // `num_classes = 10`), fixed for the whole search: with C = 100 or 1000, one backward pass per class and
  // iteration would cost 10–100× more, and the nearest boundary is almost always with a high-scoring
  // class. 0 = every class.
  int64_t candidate_classes = 10;
  // Added to |f'_l| in every step, as in the reference implementation, so that a point that lands exactly
  // on a boundary (|f'_l| = 0) still moves across it. Makes the affine-case answer
  // (1 + overshoot)·(d + ε/‖w'_l‖) instead of (1 + overshoot)·d.
  double step_epsilon = 1e-4;
};

struct DeepFoolResult {
  Tensor perturbation;         // r, shape and dtype of the image, on the CPU, row-major
  double perturbation_norm = 0;  // ‖r‖₂
  double image_norm = 0;         // ‖x‖₂
  double relative_perturbation() const { return perturbation_norm / image_norm; }
  int64_t original_class = -1;   // k̂
  int64_t final_class = -1;      // argmax f(x + r)
  int iterations = 0;            // linearisation steps taken
  // False when the search stopped with the decision unchanged: it hit max_iter, or every candidate's
  // gradient difference vanished (nowhere to step).
  bool fooled = false;
};

// `image`: [1, C, H, W] (any layout, dtype and device the model accepts). `label_or_prediction`: the
// class whose region to leave; DeepFool proper uses the model's prediction argmax f(x) (a label the model
// does not predict gives r = 0 at once, since the decision is already "changed"). Evaluates the model in
// eval mode and restores its mode; parameters receive no gradients (their requires_grad is switched off
// for the search and restored).
DeepFoolResult deepfool(Network& model, const Tensor& image, int64_t label_or_prediction,
                        const DeepFoolOptions& options = {});

// argmax f(x) for one image [1, C, H, W], in eval mode, without a graph.
int64_t predicted_class(Network& model, const Tensor& image);

}  // namespace collapse::nc
