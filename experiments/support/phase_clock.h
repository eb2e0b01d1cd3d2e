#pragma once
// Where a run's wall time goes: training, the analysis, extra measurements, checkpoints, result files, the
// final geometry and plots. Printed at the end of nc-experiment and kept in summary.json ("wall_seconds"),
// so a slow run says why (benchmarks/whole_run.py compares whole runs with PyTorch's).
#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace collapse::experiment {

class PhaseClock {
 public:
  // Adds the lifetime of the returned object to `phase`.
  class Span {
   public:
    Span(PhaseClock& clock, const char* phase) : clock_(clock), phase_(phase), start_(std::chrono::steady_clock::now()) {}
    ~Span() { clock_.seconds_[phase_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

   private:
    PhaseClock& clock_;
    const char* phase_;
    std::chrono::steady_clock::time_point start_;
  };
  Span span(const char* phase) { return Span(*this, phase); }

  // {"training": 301.2, "analysis": 40.1, ..., "total": 360.0}, rounded to 0.1 s; "other" is the rest of
  // the time since the clock was made (data loading, model building, set-up).
  nlohmann::json to_json() const {
    nlohmann::json j;
    double accounted = 0;
    for (const auto& [phase, s] : seconds_) {
      j[phase] = round(s);
      accounted += s;
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count();
    j["other"] = round(total - accounted);
    j["total"] = round(total);
    return j;
  }

 private:
  static double round(double s) { return static_cast<double>(static_cast<long long>(s * 10 + 0.5)) / 10; }
  std::map<std::string, double> seconds_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
};

}  // namespace collapse::experiment
