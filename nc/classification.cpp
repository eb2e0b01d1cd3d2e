#include "nc/classification.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace collapse::nc {

void ClassificationTally::add(RealPointer logits, const int64_t* labels, int64_t n, int64_t num_classes,
                              int64_t* predictions) {
  if (n == 0) return;
  COLLAPSE_CHECK(!logits.is_null(), "ClassificationTally::add: logits pointer is null");
  logits.visit([&](const auto* z) {
    for (int64_t i = 0; i < n; ++i) {
      const auto* row = z + i * num_classes;
      int64_t best = 0;
      for (int64_t c = 1; c < num_classes; ++c) {
        if (row[c] > row[best]) best = c;
      }
      // Cross-entropy = logsumexp(z) − z_y = log1p(Σ_{c≠best} e^{z_c − z_best}) + (z_best − z_y): shifted by
      // the maximum so large logits cannot overflow, and with log1p so that the tiny losses of confidently
      // correct samples (the terminal phase) keep their relative precision instead of cancelling.
      const double top = static_cast<double>(row[best]);
      double others = 0.0;
      for (int64_t c = 0; c < num_classes; ++c) {
        if (c != best) others += std::exp(static_cast<double>(row[c]) - top);
      }
      loss_sum += std::log1p(others) + (top - static_cast<double>(row[labels[i]]));
      errors += best != labels[i];
      predictions[i] = best;
    }
  });
  count += n;
}

double ClassificationTally::error() const {
  return count > 0 ? static_cast<double>(errors) / static_cast<double>(count)
                   : std::numeric_limits<double>::quiet_NaN();
}

double ClassificationTally::loss() const {
  return count > 0 ? loss_sum / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace collapse::nc
