#pragma once
// The "law of data separation" (He & Su, PNAS 2023): through the layers of a trained network, the
// separation fuzziness D_l = Tr(SS_W SS_B⁺) of layer l's features (= C·NC1 of those features, our
// nc1_trace) decays geometrically, log D_l ≈ a + b·l, and the fit is tight (they report R² ≈ 0.99 on
// well-trained networks). Fitted here by least squares over the stages whose D_l is finite and positive.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace collapse::nc {

struct SeparationLaw {
  int64_t points = 0;        // stages in the fit
  double slope = 0;          // b, per stage (natural log)
  double intercept = 0;      // a
  double r_squared = 0;      // of log D_l against l; NaN with fewer than 3 points or constant log D
  double ratio_per_stage = 0;  // exp(b): D_{l+1}/D_l on the fitted line
};

// `fuzziness[l]` for stages l = 0, 1, …; stages with a non-finite or non-positive value are left out.
SeparationLaw fit_separation_law(const std::vector<double>& fuzziness);
nlohmann::json to_json(const SeparationLaw& law);

}  // namespace collapse::nc
