#include "common/backoff.h"

#include <gtest/gtest.h>

#include <random>

namespace camwire {
namespace {

TEST(FullJitterBackoff, WindowsDoubleFromTheBaseUpToTheCap) {
  FullJitterBackoff b(100, 10000);
  std::mt19937_64 rng(7);
  const uint64_t expected[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000};
  for (uint64_t w : expected) {
    EXPECT_EQ(b.Window(), w);
    EXPECT_LE(b.Next(rng), w);
  }
  EXPECT_EQ(b.attempts(), 9u);
  b.Reset();
  EXPECT_EQ(b.Window(), 100u);
}

TEST(FullJitterBackoff, DelaysSpreadOverTheWholeWindowFromZero) {
  std::mt19937_64 rng(42);
  uint64_t lowest = UINT64_MAX, highest = 0, sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    FullJitterBackoff b(1000, 1000);
    const uint64_t d = b.Next(rng);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
    sum += d;
  }
  EXPECT_LT(lowest, 10u);  // full jitter reaches down to 0, not base/2
  EXPECT_GT(highest, 990u);
  EXPECT_NEAR(static_cast<double>(sum) / n, 500.0, 15.0);
}

TEST(FullJitterBackoff, NoOverflowAfterManyAttempts) {
  FullJitterBackoff b(100, UINT64_MAX / 2);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) b.Next(rng);
  EXPECT_LE(b.Window(), UINT64_MAX / 2);
  EXPECT_GE(b.Window(), 100u << 20);
}

}  // namespace
}  // namespace camwire
