#include "common/bytes.h"

#include <gtest/gtest.h>

#include <random>

namespace camwire {

TEST(Bytes, WriterAndReaderRoundTripBothOrders) {
  ByteWriter w;
  w.U8(0xab);
  w.Le16(0x1234);
  w.Le32(0xdeadbeef);
  w.Le64(0x0102030405060708ull);
  w.Be16(0x1234);
  w.Be32(0xdeadbeef);
  w.Be64(0x0102030405060708ull);
  const auto& d = w.data();
  ASSERT_EQ(d.size(), 1u + 2 + 4 + 8 + 2 + 4 + 8);
  EXPECT_EQ(d[1], 0x34);  // little endian low byte first
  EXPECT_EQ(d[15], 0x12); // big endian high byte first
  ByteReader r(d.data(), d.size());
  EXPECT_EQ(r.U8(), 0xab);
  EXPECT_EQ(r.Le16(), 0x1234);
  EXPECT_EQ(r.Le32(), 0xdeadbeefu);
  EXPECT_EQ(r.Le64(), 0x0102030405060708ull);
  EXPECT_EQ(r.Be16(), 0x1234);
  EXPECT_EQ(r.Be32(), 0xdeadbeefu);
  EXPECT_EQ(r.Be64(), 0x0102030405060708ull);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Bytes, ShortReadFailsAndStaysFailed) {
  const uint8_t d[3] = {1, 2, 3};
  ByteReader r(d, sizeof d);
  EXPECT_EQ(r.Le16(), 0x0201);
  EXPECT_EQ(r.Le32(), 0u);  // only one byte left
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.U8(), 0);     // sticky: the remaining byte is not handed out
  EXPECT_EQ(r.status().code(), "MALFORMED");
  EXPECT_NE(r.status().message().find("need 4 bytes at offset 2"), std::string::npos);
}

TEST(Bytes, HostileLengthIsRefusedBeforeAllocation) {
  const uint8_t d[8] = {0};
  ByteReader r(d, sizeof d);
  auto big = r.Bytes(SIZE_MAX, 1 << 20);
  EXPECT_TRUE(big.empty());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string::npos);
  ByteReader r2(d, sizeof d);
  EXPECT_TRUE(r2.Bytes(9, 100).empty());
  EXPECT_FALSE(r2.ok());
}

TEST(Bytes, RandomSlicesNeverReadPastTheEnd) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 10000; ++i) {
    size_t n = rng() % buf.size();
    ByteReader r(buf.data(), n);
    size_t consumed = 0;
    while (r.ok()) {
      switch (rng() % 4) {
        case 0: r.U8(); if (r.ok()) consumed += 1; break;
        case 1: r.Le16(); if (r.ok()) consumed += 2; break;
        case 2: r.Be32(); if (r.ok()) consumed += 4; break;
        default: { size_t k = rng() % 10; r.Bytes(k, 8); if (r.ok()) consumed += k; }
      }
    }
    EXPECT_LE(consumed, n);
    EXPECT_EQ(r.position(), consumed);
  }
}

}  // namespace camwire
