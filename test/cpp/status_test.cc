#include "common/status.h"

#include <gtest/gtest.h>

namespace camwire {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s = Status::Error("PTP_TIMEOUT", "no response in 5000 ms");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), "PTP_TIMEOUT");
  EXPECT_EQ(s.ToString(), "PTP_TIMEOUT: no response in 5000 ms");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> good(42);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 42);
  Result<int> bad(Status::Error("MALFORMED", "short"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), "MALFORMED");
}

TEST(Result, OkStatusWithoutValueBecomesInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "INTERNAL");
}

TEST(ResultDeathTest, ValueOnErrorAborts) {
  Result<int> bad(Status::Error("X", "y"));
  EXPECT_DEATH({ (void)bad.value(); }, "value\\(\\) on an error Result");
}

}  // namespace camwire
