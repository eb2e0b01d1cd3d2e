// core/env_switch.h: the 0/1 environment switches (COLLAPSE_CPU_WINOGRAD, COLLAPSE_BLOCKED_ACTIVATIONS,
// COLLAPSE_FOLD_BATCH_NORM) read once, with a clear error for any other value, and overridable in tests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/env_switch.h"
#include "core/error.h"

using namespace collapse;

TEST(EnvSwitch, UnsetGivesTheDefaultAndZeroOrOneTheSetting) {
  ::unsetenv("COLLAPSE_TEST_SWITCH_A");
  EXPECT_TRUE(EnvSwitch("COLLAPSE_TEST_SWITCH_A", true).enabled());
  EXPECT_FALSE(EnvSwitch("COLLAPSE_TEST_SWITCH_A", false).enabled());
  ::setenv("COLLAPSE_TEST_SWITCH_A", "0", 1);
  const EnvSwitch off("COLLAPSE_TEST_SWITCH_A", true);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(std::string(off.status()), "off (COLLAPSE_TEST_SWITCH_A=0)");
  ::setenv("COLLAPSE_TEST_SWITCH_A", "1", 1);
  const EnvSwitch on("COLLAPSE_TEST_SWITCH_A", false);
  EXPECT_TRUE(on.enabled());
  EXPECT_EQ(std::string(on.status()), "on");
  ::setenv("COLLAPSE_TEST_SWITCH_A", "0", 1);
  EXPECT_TRUE(on.enabled()) << "read once: a later change of the environment does not count";
  ::unsetenv("COLLAPSE_TEST_SWITCH_A");
}

TEST(EnvSwitch, AnyOtherValueIsAnErrorNamingTheVariable) {
  for (const char* bad : {"2", "yes", "", "01"}) {
    ::setenv("COLLAPSE_TEST_SWITCH_B", bad, 1);
    const EnvSwitch s("COLLAPSE_TEST_SWITCH_B", true);
    try {
      (void)s.enabled();
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("COLLAPSE_TEST_SWITCH_B"), std::string::npos) << e.what();
    }
  }
  ::unsetenv("COLLAPSE_TEST_SWITCH_B");
}

TEST(EnvSwitch, GuardOverridesForItsScope) {
  ::unsetenv("COLLAPSE_TEST_SWITCH_C");
  const EnvSwitch s("COLLAPSE_TEST_SWITCH_C", true);
  {
    EnvSwitch::Guard off(s, false);
    EXPECT_FALSE(s.enabled());
    {
      EnvSwitch::Guard on(s, true);
      EXPECT_TRUE(s.enabled());
    }
    EXPECT_FALSE(s.enabled());
  }
  EXPECT_TRUE(s.enabled());
}
