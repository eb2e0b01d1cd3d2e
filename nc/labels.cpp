#include "nc/labels.h"

#include "core/error.h"

namespace collapse::nc {

void check_labels(const int64_t* labels, int64_t n, int64_t num_classes, const char* caller) {
  COLLAPSE_CHECK(n == 0 || labels != nullptr, caller, ": labels pointer is null");
  for (int64_t i = 0; i < n; ++i) {
    COLLAPSE_CHECK(labels[i] >= 0 && labels[i] < num_classes, caller, ": label ", labels[i], " at row ", i,
                   " of the batch is outside [0, ", num_classes, ")");
  }
}

}  // namespace collapse::nc
