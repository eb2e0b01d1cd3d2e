#pragma once
// Classification by the network's own logits: argmax(Wh + b) per row, the error count and the summed
// cross-entropy, accumulated in double over any number of batches.
#include <cstdint>

#include "nc/real_pointer.h"

namespace collapse::nc {

struct ClassificationTally {
  int64_t count = 0;
  int64_t errors = 0;     // argmax(logits) ≠ label (ties go to the lowest class index, as torch.argmax)
  double loss_sum = 0.0;  // Σ cross-entropy = Σ (logsumexp(logits) − logits[label])

  // `logits` is n × C, row-major. Writes each row's argmax to `predictions` (n entries) for the caller
  // (NC4 compares it with the nearest class mean).
  void add(RealPointer logits, const int64_t* labels, int64_t n, int64_t num_classes, int64_t* predictions);

  double error() const;  // errors / count
  double loss() const;   // loss_sum / count
};

}  // namespace collapse::nc
