#include "kvs/mkv.h"
#include "kvs/ebml.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace camwire {
namespace {

std::vector<uint8_t> Vint(uint64_t v, int width = 0) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(ebml::AppendVint(out, v, width));
  return out;
}

TEST(Ebml, VintWidthsAndReservedAllOnes) {
  EXPECT_EQ(Vint(0), (std::vector<uint8_t>{0x80}));
  EXPECT_EQ(Vint(1), (std::vector<uint8_t>{0x81}));
  EXPECT_EQ(Vint(126), (std::vector<uint8_t>{0xfe}));
  EXPECT_EQ(Vint(127), (std::vector<uint8_t>{0x40, 0x7f}));  // 0xff would mean "unknown"
  EXPECT_EQ(Vint(16382), (std::vector<uint8_t>{0x7f, 0xfe}));
  EXPECT_EQ(Vint(16383), (std::vector<uint8_t>{0x20, 0x3f, 0xff}));
  EXPECT_EQ(Vint(5, 8), (std::vector<uint8_t>{0x01, 0, 0, 0, 0, 0, 0, 5}));
  EXPECT_EQ(ebml::VintWidth((uint64_t{1} << 56) - 2), 8);
  EXPECT_EQ(ebml::VintWidth((uint64_t{1} << 56) - 1), 0);
  std::vector<uint8_t> out;
  EXPECT_FALSE(ebml::AppendVint(out, 300, 1));  // does not fit one byte
  EXPECT_TRUE(out.empty());
  ebml::AppendUnknownSize(out, 1);
  ebml::AppendUnknownSize(out, 8);
  EXPECT_EQ(out, (std::vector<uint8_t>{0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(Ebml, MasterSizesArePatched) {
  std::vector<uint8_t> out;
  ebml::Writer w(out);
  size_t t = w.Begin(0x1A45DFA3, 1);
  w.UInt(0x4286, 1);
  w.String(0x4282, "matroska");
  w.End(t);
  // 1A 45 DF A3 | size 0x8F (15) | 42 86 81 01 | 42 82 88 matroska
  ASSERT_EQ(out.size(), 4u + 1 + 4 + 3 + 8);
  EXPECT_EQ(out[4], 0x80 | 15);
  std::vector<uint8_t> wide;
  ebml::Writer w2(wide);
  size_t t2 = w2.Begin(0xAE, 4);
  w2.UInt(0xD7, 1);
  w2.End(t2);
  EXPECT_EQ(wide, (std::vector<uint8_t>{0xAE, 0x10, 0x00, 0x00, 0x03, 0xD7, 0x81, 0x01}));
}

TEST(Mkv, HeaderMatchesTheLayoutKvsExpects) {
  mkv::VideoTrack track;
  track.width = 1280;
  track.height = 720;
  track.codec_private = {1, 0x42, 0xc0, 0x1f, 0xff, 0xe1};
  std::array<uint8_t, 16> uid{};
  uid.fill(0x55);
  auto h = mkv::StreamHeader(track, uid, "camwire");
  const std::vector<uint8_t> ebml_head = {0x1A, 0x45, 0xDF, 0xA3, 0xA3, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01, 0x42, 0xF2,
                                          0x81, 0x04, 0x42, 0xF3, 0x81, 0x08, 0x42, 0x82, 0x88, 'm',  'a',  't',  'r',  'o',  's',
                                          'k',  'a',  0x42, 0x87, 0x81, 0x02, 0x42, 0x85, 0x81, 0x02, 0x18, 0x53, 0x80, 0x67, 0xFF};
  ASSERT_GT(h.size(), ebml_head.size());
  EXPECT_EQ(std::vector<uint8_t>(h.begin(), h.begin() + ebml_head.size()), ebml_head);
  // TimecodeScale 1 ms as an 8-byte value.
  const std::vector<uint8_t> scale = {0x2A, 0xD7, 0xB1, 0x88, 0, 0, 0, 0, 0, 0x0F, 0x42, 0x40};
  EXPECT_NE(std::search(h.begin(), h.end(), scale.begin(), scale.end()), h.end());
  const std::vector<uint8_t> width = {0xB0, 0x82, 0x05, 0x00};
  EXPECT_NE(std::search(h.begin(), h.end(), width.begin(), width.end()), h.end());
}

TEST(Mkv, FragmenterStartsClustersOnKeyFramesAndRejectsBadTimestamps) {
  mkv::Fragmenter f(2000, false);
  std::vector<uint8_t> out;
  const uint8_t frame[] = {0, 0, 0, 1, 0x65};
  bool started = false;
  EXPECT_EQ(f.Add(out, frame, sizeof frame, 1000, false, &started).code(), "KVS_NEEDS_KEYFRAME");
  ASSERT_TRUE(f.Add(out, frame, sizeof frame, 1000, true, &started).ok());
  EXPECT_TRUE(started);
  ASSERT_TRUE(f.Add(out, frame, sizeof frame, 1033, false, &started).ok());
  EXPECT_FALSE(started);
  // A key frame before the fragment duration stays in the cluster.
  ASSERT_TRUE(f.Add(out, frame, sizeof frame, 1500, true, &started).ok());
  EXPECT_FALSE(started);
  ASSERT_TRUE(f.Add(out, frame, sizeof frame, 3000, true, &started).ok());
  EXPECT_TRUE(started);
  EXPECT_EQ(f.Add(out, frame, sizeof frame, 3000, false, &started).code(), "KVS_TIMESTAMP_NOT_INCREASING");
  EXPECT_EQ(f.fragments(), 2u);
  EXPECT_EQ(f.frames(), 4u);
  // The second cluster's timecode is relative to the stream start: 2000 ms.
  const std::vector<uint8_t> tc = {0xE7, 0x88, 0, 0, 0, 0, 0, 0, 0x07, 0xD0};
  EXPECT_NE(std::search(out.begin(), out.end(), tc.begin(), tc.end()), out.end());
}

TEST(Mkv, TagsFollowKvsLimits) {
  EXPECT_TRUE(mkv::FragmentTags({{"camera", "lobby"}}).ok());
  EXPECT_TRUE(mkv::FragmentTags({{"AWS_KINESISVIDEO_END_OF_FRAGMENT", ""}}).ok());
  EXPECT_EQ(mkv::FragmentTags({{"AWS_SECRET", "x"}}).status().code(), "KVS_BAD_METADATA");
  EXPECT_FALSE(mkv::FragmentTags({{std::string(129, 'n'), "x"}}).ok());
  EXPECT_FALSE(mkv::FragmentTags({{"n", std::string(257, 'v')}}).ok());
  std::vector<std::pair<std::string, std::string>> many(11, {"k", "v"});
  EXPECT_FALSE(mkv::FragmentTags(many).ok());
}

}  // namespace
}  // namespace camwire
