#pragma once
// An on/off switch read once from an environment variable that must be 0 or 1 (COLLAPSE_CPU_WINOGRAD,
// COLLAPSE_BLOCKED_ACTIVATIONS, COLLAPSE_FOLD_BATCH_NORM), unset meaning the default. Any other value is
// an error naming the variable, raised where the switch is first read. Tests override it for a scope
// (Guard) to compare the two settings in one process.
#include <atomic>
#include <string>

namespace collapse {

class EnvSwitch {
 public:
  EnvSwitch(const char* variable, bool default_on);
  bool enabled() const;
  // For run configs: "on", or "off (VARIABLE=0)".
  const char* status() const;

  class Guard {
   public:
    Guard(const EnvSwitch& s, bool enabled);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    const EnvSwitch& switch_;
    int previous_;
  };

 private:
  int current() const;  // 0 or 1, from the environment on first use

  const char* variable_;
  bool default_on_;
  std::string off_status_;
  mutable std::atomic<int> value_{-1};  // -1: not yet read
};

}  // namespace collapse
