#include "core/env_switch.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace collapse {

EnvSwitch::EnvSwitch(const char* variable, bool default_on)
    : variable_(variable), default_on_(default_on), off_status_(std::string("off (") + variable + "=0)") {}

int EnvSwitch::current() const {
  int v = value_.load(std::memory_order_relaxed);
  if (v >= 0) return v;
  const char* env = std::getenv(variable_);
  if (!env) {
    v = default_on_ ? 1 : 0;
  } else {
    COLLAPSE_CHECK(std::strcmp(env, "0") == 0 || std::strcmp(env, "1") == 0, "environment variable ", variable_, "=",
                   env, ": expected 0 (off) or 1 (on)");
    v = env[0] == '1';
  }
  value_.store(v, std::memory_order_relaxed);
  return v;
}

bool EnvSwitch::enabled() const { return current() == 1; }
const char* EnvSwitch::status() const { return enabled() ? "on" : off_status_.c_str(); }

EnvSwitch::Guard::Guard(const EnvSwitch& s, bool enabled) : switch_(s), previous_(s.current()) {
  s.value_.store(enabled ? 1 : 0, std::memory_order_relaxed);
}
EnvSwitch::Guard::~Guard() { switch_.value_.store(previous_, std::memory_order_relaxed); }

}  // namespace collapse
