#include "kvs/fragment_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kvs/mkv_reader.h"

namespace camwire {
namespace kvs {
namespace {

const std::vector<uint8_t> kFrame(1000, 0x11);
constexpr uint64_t kT0 = 1'700'000'000'000ull;

Ack MakeAck(AckType t, uint64_t tc) {
  Ack a;
  a.type = t;
  a.has_timecode = true;
  a.fragment_timecode = tc;
  return a;
}

// 30 fps, a key frame every 30 frames, 1 s fragments.
void Put(FragmentStore& s, int from, int to) {
  for (int i = from; i < to; ++i) {
    auto r = s.PutFrame(kFrame.data(), kFrame.size(), kT0 + i * 34, i % 30 == 0);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

TEST(FragmentStore, KeepsFragmentsUntilPersistedAndTrimsUpToTheAck) {
  StoreOptions o;
  o.fragment_duration_ms = 1000;
  FragmentStore s(o);
  Put(s, 0, 90);
  EXPECT_EQ(s.Stats().fragments, 3u);
  EXPECT_FALSE(s.OnAck(MakeAck(AckType::kPersisted, 12345)));
  EXPECT_TRUE(s.OnAck(MakeAck(AckType::kBuffering, kT0)));
  EXPECT_TRUE(s.OnAck(MakeAck(AckType::kReceived, kT0)));
  EXPECT_EQ(s.Stats().fragments, 3u) << "RECEIVED does not trim when the stream has retention";
  EXPECT_TRUE(s.OnAck(MakeAck(AckType::kPersisted, kT0 + 30 * 34)));
  EXPECT_EQ(s.Stats().fragments, 1u) << "PERSISTED of the 2nd fragment trims the 1st as well";
  EXPECT_EQ(s.Stats().fragments_persisted, 2u);
  // PERSISTED of the open last fragment marks it; it leaves when the next one starts.
  EXPECT_TRUE(s.OnAck(MakeAck(AckType::kPersisted, kT0 + 60 * 34)));
  EXPECT_EQ(s.Stats().fragments, 1u);
  Put(s, 90, 91);
  EXPECT_EQ(s.Stats().fragments, 1u);
  EXPECT_EQ(s.Stats().fragments_persisted, 3u);
}

TEST(FragmentStore, SendCursorStreamsEverythingAndRewindsToTheFirstUnacked) {
  StoreOptions o;
  o.fragment_duration_ms = 1000;
  FragmentStore s(o);
  Put(s, 0, 60);
  std::vector<uint8_t> sent;
  while (s.ReadChunk(sent, 777) > 0) {
  }
  // What was sent parses as clusters and frames (after a stream header).
  mkv::VideoTrack track;
  track.codec_private = {1};
  std::array<uint8_t, 16> uid{};
  std::vector<uint8_t> body = mkv::StreamHeader(track, uid, "t");
  body.insert(body.end(), sent.begin(), sent.end());
  mkv::StreamReader reader;
  std::vector<mkv::ReaderEvent> ev;
  ASSERT_TRUE(reader.Feed(body.data(), body.size(), ev).ok());
  int frames = 0;
  for (auto& e : ev) frames += e.kind == mkv::ReaderEvent::kFrame;
  EXPECT_EQ(frames, 60);
  // Nothing new: no bytes. More frames: only they are read.
  std::vector<uint8_t> none;
  EXPECT_EQ(s.ReadChunk(none, 1 << 20), 0u);
  Put(s, 60, 61);
  std::vector<uint8_t> more;
  EXPECT_GT(s.ReadChunk(more, 1 << 20), kFrame.size());
  EXPECT_LT(more.size(), 2 * kFrame.size() + 100);
  // The first fragment persisted, then the connection drops: resend from the second.
  ASSERT_TRUE(s.OnAck(MakeAck(AckType::kPersisted, kT0)));
  s.Rewind();
  std::vector<uint8_t> again;
  while (s.ReadChunk(again, 4096) > 0) {
  }
  EXPECT_EQ(again.size(), s.Stats().bytes) << "everything still stored is sent again, nothing persisted is";
  EXPECT_EQ(again.size() + (sent.size() + more.size() - again.size()), sent.size() + more.size());
  EXPECT_LT(again.size(), sent.size() + more.size());
}

TEST(FragmentStore, FullStoreDropsUntilTheNextKeyFrameOrRefusesWhenBlocking) {
  StoreOptions o;
  o.fragment_duration_ms = 1000;
  o.max_bytes = 45 * 1100;  // room for about 45 frames
  FragmentStore s(o);
  int dropped = 0;
  for (int i = 0; i < 90; ++i) {
    auto r = s.PutFrame(kFrame.data(), kFrame.size(), kT0 + i * 34, i % 30 == 0);
    ASSERT_TRUE(r.ok());
    dropped += r.value() == PutOutcome::kDropped;
    if (i == 70) ASSERT_TRUE(s.OnAck(MakeAck(AckType::kPersisted, kT0)));  // frees the first fragment
  }
  auto st = s.Stats();
  EXPECT_EQ(st.frames_dropped, static_cast<uint64_t>(dropped));
  EXPECT_GT(dropped, 0);
  // Dropping ran until a key frame: frame 60 (a key frame) found room again only after the ack at 70,
  // so frames 45..89 minus what fit after the ack were dropped; stored + dropped covers every frame.
  EXPECT_EQ(st.frames_stored + st.frames_dropped, 90u);
  StoreOptions b = o;
  b.overflow = OverflowPolicy::kBlock;
  FragmentStore blocking(b);
  Status full;
  for (int i = 0; i < 90 && full.ok(); ++i) {
    auto r = blocking.PutFrame(kFrame.data(), kFrame.size(), kT0 + i * 34, i % 30 == 0);
    if (!r.ok()) full = r.status();
  }
  EXPECT_EQ(full.code(), "KVS_STORE_FULL");
  EXPECT_FALSE(blocking.WaitForSpace(kFrame.size(), 10));
}

TEST(FragmentStore, NonIncreasingTimestampsAreRefused) {
  FragmentStore s(StoreOptions{});
  ASSERT_TRUE(s.PutFrame(kFrame.data(), kFrame.size(), 1000, true).ok());
  EXPECT_EQ(s.PutFrame(kFrame.data(), kFrame.size(), 1000, false).status().code(), "KVS_TIMESTAMP_NOT_INCREASING");
}

TEST(FragmentStore, ProducerAndSenderThreadsWithAcksForWhatWasSent) {
  StoreOptions o;
  o.fragment_duration_ms = 0;  // a fragment per key frame
  o.max_bytes = 2u << 20;      // small: the producer has to wait for acks
  FragmentStore s(o);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < 3000; ++i) {
      while (!s.WaitForSpace(kFrame.size(), 5)) {
      }
      auto r = s.PutFrame(kFrame.data(), kFrame.size(), kT0 + i * 10, i % 10 == 0);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r.value(), PutOutcome::kStored);
    }
    done = true;
  });
  size_t total = 0;
  std::thread sender([&] {
    std::vector<uint8_t> buf;
    for (;;) {
      buf.clear();
      const size_t n = s.ReadChunk(buf, 65536);
      total += n;
      // The "service" persists every fragment sent whole.
      for (uint64_t tc : s.SentFragments()) s.OnAck(MakeAck(AckType::kPersisted, tc));
      if (n == 0) {
        if (done) {
          // The producer may have put its last frames after the read above:
          // take them, and ack what that moved past, before stopping.
          buf.clear();
          total += s.ReadChunk(buf, 1 << 30);
          for (uint64_t tc : s.SentFragments()) s.OnAck(MakeAck(AckType::kPersisted, tc));
          break;
        }
        std::this_thread::yield();
      }
    }
  });
  producer.join();
  sender.join();
  const StoreStats st = s.Stats();
  EXPECT_EQ(total, st.bytes_stored_total) << "every stored byte was sent exactly once";
  EXPECT_EQ(st.frames_stored, 3000u);
  EXPECT_EQ(st.fragments_persisted, 299u);
  EXPECT_EQ(st.fragments, 1u) << "only the open fragment remains";
}

}  // namespace
}  // namespace kvs
}  // namespace camwire
