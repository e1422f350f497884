#include "common/bytes.h"

#include <gtest/gtest.h>

#include <random>

#include "ptp/wire.h"

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
  const auto& d = w.bytes();
  ASSERT_EQ(d.size(), 1u + 2 + 4 + 8 + 2 + 4 + 8);
  EXPECT_EQ(d[1], 0x34);   // little endian low byte first
  EXPECT_EQ(d[15], 0x12);  // big endian high byte first
  ByteReader r(d);
  uint8_t u8 = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  EXPECT_TRUE(r.U8(&u8));
  EXPECT_EQ(u8, 0xab);
  EXPECT_TRUE(r.Le16(&u16));
  EXPECT_EQ(u16, 0x1234);
  EXPECT_TRUE(r.Le32(&u32));
  EXPECT_EQ(u32, 0xdeadbeefu);
  EXPECT_TRUE(r.Le64(&u64));
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_TRUE(r.Be16(&u16));
  EXPECT_EQ(u16, 0x1234);
  EXPECT_TRUE(r.Be32(&u32));
  EXPECT_EQ(u32, 0xdeadbeefu);
  EXPECT_TRUE(r.Be64(&u64));
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Bytes, AppendHelpersMatchTheWriterAndTheLoads) {
  std::vector<uint8_t> v;
  AppendBe16(v, 0x0102);
  AppendBe32(v, 0x03040506);
  AppendLe16(v, 0x0807);
  ASSERT_EQ(v, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(LoadBe16(v.data()), 0x0102);
  EXPECT_EQ(LoadBe32(v.data() + 2), 0x03040506u);
  EXPECT_EQ(LoadLe16(v.data() + 6), 0x0807);
  EXPECT_EQ(LoadBeN(v.data(), 3), 0x010203u);
  EXPECT_EQ(LoadBeN(v.data(), 0), 0u);
}

TEST(Bytes, ShortReadFailsWithoutTakingAnything) {
  const uint8_t d[3] = {1, 2, 3};
  ByteReader r(d, sizeof d);
  uint16_t u16 = 0;
  uint32_t u32 = 77;
  EXPECT_TRUE(r.Le16(&u16));
  EXPECT_EQ(u16, 0x0201);
  EXPECT_FALSE(r.Le32(&u32));   // only one byte left
  EXPECT_EQ(u32, 77u);          // the value is left as it was
  EXPECT_EQ(r.position(), 2u);  // and so is the position
  uint8_t u8 = 0;
  EXPECT_TRUE(r.U8(&u8));  // what does fit is still read
  EXPECT_EQ(u8, 3);
  EXPECT_FALSE(r.Skip(1));
}

TEST(Bytes, HostileLengthIsRefusedBeforeAllocation) {
  const uint8_t d[8] = {0};
  ByteReader r(d, sizeof d);
  std::vector<uint8_t> out;
  EXPECT_FALSE(r.Bytes(SIZE_MAX, 1 << 20, &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.Bytes(9, 100, &out));  // under the limit, over what is present
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.Bytes(5, 4, &out));  // present, over the limit
  EXPECT_TRUE(r.Bytes(8, 8, &out));
  EXPECT_EQ(out.size(), 8u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Bytes, RandomSlicesNeverReadPastTheEnd) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 10000; ++i) {
    size_t n = rng() % buf.size();
    ByteReader r(buf.data(), n);
    size_t consumed = 0;
    for (int failures = 0; failures < 4;) {
      bool ok = false;
      size_t k = 0;
      switch (rng() % 4) {
        case 0: {
          uint8_t v;
          ok = r.U8(&v);
          k = 1;
          break;
        }
        case 1: {
          uint16_t v;
          ok = r.Le16(&v);
          k = 2;
          break;
        }
        case 2: {
          uint32_t v;
          ok = r.Be32(&v);
          k = 4;
          break;
        }
        default: {
          std::vector<uint8_t> v;
          k = rng() % 10;
          ok = r.Bytes(k, 8, &v);
        }
      }
      if (ok) {
        consumed += k;
      } else {
        ++failures;
      }
      ASSERT_EQ(r.position(), consumed);
    }
    EXPECT_LE(consumed, n);
  }
}

// PTP's reader is a layer over ByteReader: little endian, all-or-nothing arrays.
TEST(Bytes, PtpWireIsLittleEndianOverTheSameReader) {
  ptp::Writer w;
  w.U16(0x1234);
  w.U32Array({1, 2});
  w.Str("ab");
  const std::vector<uint8_t> want = {0x34, 0x12, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 'a', 0, 'b', 0, 0, 0};
  ASSERT_EQ(w.bytes(), want);
  ptp::Reader r(w.bytes());
  uint16_t u16 = 0;
  std::vector<uint32_t> arr;
  std::string s;
  EXPECT_TRUE(r.U16(&u16));
  EXPECT_EQ(u16, 0x1234);
  EXPECT_TRUE(r.U32Array(&arr));
  EXPECT_EQ(arr, (std::vector<uint32_t>{1, 2}));
  EXPECT_TRUE(r.Str(&s));
  EXPECT_EQ(s, "ab");
  EXPECT_EQ(r.left(), 0u);
  // A count over what is present takes nothing.
  const uint8_t bad[] = {5, 0, 0, 0, 1, 0};
  ptp::Reader r2(bad, sizeof bad);
  std::vector<uint16_t> a16;
  EXPECT_FALSE(r2.U16Array(&a16));
  EXPECT_EQ(r2.offset(), 0u);
  EXPECT_TRUE(a16.empty());
}

}  // namespace camwire
