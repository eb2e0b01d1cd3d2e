#pragma once
// PyTorch-default initialisers, so our networks start from the same distributions as the paper's.
#include "core/rng.h"
#include "core/tensor.h"

namespace collapse {

// kaiming_normal_(mode="fan_out", nonlinearity="relu"): N(0, 2/fan_out), fan_out = out_channels * kh * kw.
// torchvision's ResNet, VGG and DenseNet all initialise their convolutions this way.
void kaiming_normal_fan_out(Tensor& weight, Generator& gen);
// U(-bound, bound); nn.Linear's default weight and bias use bound = 1/sqrt(fan_in).
void uniform_(Tensor& t, double bound, Generator& gen);
void normal_(Tensor& t, double mean, double std, Generator& gen);

}  // namespace collapse
