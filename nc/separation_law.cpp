#include "nc/separation_law.h"

#include <cmath>
#include <limits>

namespace collapse::nc {

SeparationLaw fit_separation_law(const std::vector<double>& fuzziness) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x, y;
  for (size_t l = 0; l < fuzziness.size(); ++l)
    if (std::isfinite(fuzziness[l]) && fuzziness[l] > 0) {
      x.push_back(static_cast<double>(l));
      y.push_back(std::log(fuzziness[l]));
    }
  SeparationLaw law;
  law.points = static_cast<int64_t>(x.size());
  if (x.size() < 2) return {law.points, kNaN, kNaN, kNaN, kNaN};
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  law.slope = sxy / sxx;
  law.intercept = my - law.slope * mx;
  law.r_squared = x.size() >= 3 && syy > 0 ? sxy * sxy / (sxx * syy) : kNaN;
  law.ratio_per_stage = std::exp(law.slope);
  return law;
}

nlohmann::json to_json(const SeparationLaw& law) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  return {{"points", law.points},         {"slope", number(law.slope)}, {"intercept", number(law.intercept)},
          {"r_squared", number(law.r_squared)}, {"ratio_per_stage", number(law.ratio_per_stage)},
          {"source", "He & Su 2023: log Tr(SS_W SS_B+) linear in the stage index"}};
}

}  // namespace collapse::nc
