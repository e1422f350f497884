#include "kvs/mkv_reader.h"
#include "kvs/mkv.h"

#include <gtest/gtest.h>

#include <random>

namespace camwire {
namespace mkv {
namespace {

std::vector<uint8_t> SampleStream() {
  VideoTrack track;
  track.width = 640;
  track.height = 360;
  track.codec_private = {1, 0x42, 0xc0, 0x1e, 0xff, 0xe1};
  std::array<uint8_t, 16> uid{};
  uid.fill(7);
  std::vector<uint8_t> s = StreamHeader(track, uid, "camwire");
  Fragmenter f(1000, true);
  std::vector<uint8_t> frame(3000, 0x42);
  bool started = false;
  for (int i = 0; i < 60; ++i) {
    if (i == 30) {
      auto tags = FragmentTags({{"camera", "lobby"}});
      s.insert(s.end(), tags.value().begin(), tags.value().end());
    }
    EXPECT_TRUE(f.Add(s, frame.data(), frame.size() - i, 1'700'000'000'000ull + i * 34, i % 30 == 0, &started).ok());
  }
  return s;
}

std::vector<ReaderEvent> ReadAll(const std::vector<uint8_t>& s, size_t chunk, Status* status) {
  StreamReader r;
  std::vector<ReaderEvent> out;
  *status = Status::Ok();
  for (size_t i = 0; i < s.size() && status->ok(); i += chunk) *status = r.Feed(s.data() + i, std::min(chunk, s.size() - i), out);
  return out;
}

TEST(MkvReader, ReadsBackWhatTheWriterWroteInAnyChunking) {
  auto s = SampleStream();
  for (size_t chunk : {1u, 5u, 333u, 4096u, 1u << 20}) {
    Status st;
    auto ev = ReadAll(s, chunk, &st);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev[0].kind, ReaderEvent::kStreamHeader);
    EXPECT_EQ(ev[0].width, 640u);
    EXPECT_EQ(ev[0].height, 360u);
    EXPECT_EQ(ev[0].codec_id, "V_MPEG4/ISO/AVC");
    EXPECT_EQ(ev[0].codec_private_size, 6u);
    EXPECT_EQ(ev[0].timecode_scale_ns, 1000000u);
    int clusters = 0, frames = 0, keys = 0, tags = 0;
    uint64_t last = 0;
    for (const auto& e : ev) {
      if (e.kind == ReaderEvent::kCluster) ++clusters;
      if (e.kind == ReaderEvent::kTag) {
        ++tags;
        EXPECT_EQ(e.tag_name, "camera");
        EXPECT_EQ(e.tag_value, "lobby");
      }
      if (e.kind == ReaderEvent::kFrame) {
        EXPECT_EQ(e.frame_size, 3000u - frames);
        EXPECT_EQ(e.timecode, 1'700'000'000'000ull + frames * 34);
        EXPECT_GT(e.timecode, last);
        last = e.timecode;
        keys += e.keyframe;
        ++frames;
      }
    }
    EXPECT_EQ(clusters, 2);
    EXPECT_EQ(frames, 60);
    EXPECT_EQ(keys, 2);
    EXPECT_EQ(tags, 1);
  }
}

TEST(MkvReader, RefusesWhatPutMediaRefuses) {
  auto s = SampleStream();
  Status st;
  // A second stream header on the same connection.
  auto twice = s;
  twice.insert(twice.end(), s.begin(), s.end());
  ReadAll(twice, 4096, &st);
  EXPECT_EQ(st.code(), "KVS_MKV_MALFORMED");
  // A cluster before Tracks.
  std::vector<uint8_t> early = ClusterStart(5);
  ReadAll(early, 4096, &st);
  EXPECT_NE(st.message().find("before Tracks"), std::string::npos);
  // An element claiming 2^50 bytes is refused, not buffered.
  std::vector<uint8_t> huge = {0x1A, 0x45, 0xDF, 0xA3, 0x01, 0x04, 0, 0, 0, 0, 0, 0};
  StreamReader r;
  std::vector<ReaderEvent> out;
  EXPECT_EQ(r.Feed(huge.data(), huge.size(), out).code(), "KVS_MKV_MALFORMED");
  // A truncated stream is not an error, just unfinished.
  std::vector<uint8_t> cut(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2));
  auto ev = ReadAll(cut, 100, &st);
  EXPECT_TRUE(st.ok());
  EXPECT_FALSE(ev.empty());
}

TEST(MkvReader, RandomBytesNeverCrash) {
  std::mt19937 rng(5);
  auto s = SampleStream();
  for (int i = 0; i < 3000; ++i) {
    auto m = s;
    for (int k = 0; k < 8; ++k) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    Status st;
    ReadAll(m, 1 + rng() % 5000, &st);
  }
  SUCCEED();
}

}  // namespace
}  // namespace mkv
}  // namespace camwire
