#include "data/class_names.h"

#include <fstream>

#include "core/error.h"

namespace collapse {

std::vector<std::string> read_class_names_or(const std::filesystem::path& path, int64_t num_classes,
                                             std::vector<std::string> fallback) {
  if (!std::filesystem::exists(path)) return fallback;
  std::ifstream in(path);
  COLLAPSE_CHECK(in, "cannot open ", path.string());
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    names.push_back(line.substr(first, last - first + 1));
  }
  COLLAPSE_CHECK(static_cast<int64_t>(names.size()) == num_classes, path.string(), ": ", names.size(),
                 " class names, expected ", num_classes);
  return names;
}

std::vector<std::string> read_kmnist_class_names(const std::filesystem::path& csv) {
  constexpr int64_t kClasses = 10;
  if (!std::filesystem::exists(csv)) return {"o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"};
  std::ifstream in(csv);
  COLLAPSE_CHECK(in, "cannot open ", csv.string());
  std::vector<std::string> names;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto last_comma = line.rfind(',');
    COLLAPSE_CHECK(last_comma != std::string::npos, csv.string(), ": malformed line '", line, "'");
    names.push_back(line.substr(last_comma + 1));
  }
  COLLAPSE_CHECK(static_cast<int64_t>(names.size()) == kClasses, csv.string(), ": ", names.size(),
                 " classes, expected ", kClasses);
  return names;
}

std::vector<std::string> numbered_class_names(int64_t num_classes) {
  std::vector<std::string> names;
  for (int64_t c = 0; c < num_classes; ++c) names.push_back(std::to_string(c));
  return names;
}

}  // namespace collapse
