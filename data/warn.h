#pragma once
// Warnings from the data module go to stderr. A reader that adapts to an odd input (image and label
// files of different lengths, an undecodable image skipped on request) says so instead of silently
// returning something other than what the files promise.
#include <iostream>

#include "core/error.h"

namespace collapse {

template <class... Args>
void data_warning(Args&&... args) {
  std::cerr << "collapse data: warning: " << detail::concat(std::forward<Args>(args)...) << '\n';
}

}  // namespace collapse
