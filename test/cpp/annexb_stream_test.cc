#include "kvs/annexb_stream.h"

#include <gtest/gtest.h>

#include "kvs/fragment_store.h"

namespace camwire {
namespace h264 {
namespace {

void Nal(std::vector<uint8_t>& out, std::vector<uint8_t> body, bool four = true) {
  if (four) out.push_back(0);
  out.insert(out.end(), {0, 0, 1});
  out.insert(out.end(), body.begin(), body.end());
}

// n frames: AUD, then SPS+PPS+IDR slice every `gop` frames, else a P slice;
// each slice has a payload of (10 + i) bytes with first_mb_in_slice = 0.
std::vector<uint8_t> Stream(int n, int gop) {
  std::vector<uint8_t> s;
  for (int i = 0; i < n; ++i) {
    Nal(s, {0x09, 0xF0});
    std::vector<uint8_t> slice;
    if (i % gop == 0) {
      Nal(s, {0x67, 0x42, 0x00, 0x1e, 0xab});
      Nal(s, {0x68, 0xce, 0x3c, 0x80}, false);
      slice = {0x65, 0x88};
    } else {
      slice = {0x41, 0x9a};
    }
    for (int k = 0; k < 10 + i; ++k) slice.push_back(static_cast<uint8_t>(0x10 + (k % 200)));
    Nal(s, slice, i % 2 == 0);
  }
  return s;
}

struct Out {
  std::vector<std::vector<uint8_t>> avcc;
  std::vector<bool> key;
};

Out Whole(const std::vector<uint8_t>& s) {
  Out o;
  for (const AccessUnit& au : GroupAccessUnits(s.data(), SplitAnnexB(s.data(), s.size()))) {
    o.avcc.push_back(ToAvcc(s.data(), au));
    o.key.push_back(au.keyframe);
  }
  return o;
}

Out Pieces(const std::vector<uint8_t>& s, size_t piece, AnnexBStream* stream = nullptr) {
  AnnexBStream local;
  AnnexBStream& st = stream ? *stream : local;
  Out o;
  auto sink = [&](const uint8_t* d, const AccessUnit& au) {
    o.avcc.push_back(ToAvcc(d, au));
    o.key.push_back(au.keyframe);
    return Status::Ok();
  };
  for (size_t off = 0; off < s.size(); off += piece) {
    EXPECT_TRUE(st.Feed(s.data() + off, std::min(piece, s.size() - off), sink).ok());
  }
  EXPECT_TRUE(st.Finish(sink).ok());
  return o;
}

TEST(AnnexBStream, AnyPieceSizesGiveTheSameFramesAsTheWholeBuffer) {
  const std::vector<uint8_t> s = Stream(40, 10);
  const Out whole = Whole(s);
  ASSERT_EQ(whole.avcc.size(), 40u);
  for (size_t piece : {1u, 2u, 3u, 5u, 7u, 64u, 1000u, 100000u}) {
    const Out got = Pieces(s, piece);
    EXPECT_EQ(got.avcc, whole.avcc) << "piece " << piece;
    EXPECT_EQ(got.key, whole.key) << "piece " << piece;
  }
}

// Units handed out from the piece itself, and the unit being collected
// completed a step at a time (first_step, doubling): the same frames for any
// step and piece size, also when a frame is many steps long.
TEST(AnnexBStream, StepsAndPiecesOfAnySizeGiveTheSameFrames) {
  std::vector<uint8_t> s;
  for (int i = 0; i < 60; ++i) {
    if (i % 4 == 0) Nal(s, {0x09, 0xF0}, i % 8 == 0);  // most units begin at their slice (or SPS), not at a delimiter
    std::vector<uint8_t> slice;
    if (i % 15 == 0) {
      Nal(s, {0x67, 0x42, 0x00, 0x1e, 0xab});
      Nal(s, {0x68, 0xce, 0x3c, 0x80}, false);
      slice = {0x65, 0x88};
    } else {
      slice = {0x41, 0x9a};
    }
    const size_t body = i % 7 == 0 ? 5000 + 37 * i : 20 + 13 * i;  // some frames far longer than a step or a piece
    for (size_t k = 0; k < body; ++k) slice.push_back(static_cast<uint8_t>(0x10 + (k % 200)));
    Nal(s, slice, i % 3 == 0);  // 3- and 4-byte start codes
  }
  const Out whole = Whole(s);
  ASSERT_EQ(whole.avcc.size(), 60u);
  for (size_t step : {1u, 2u, 5u, 64u, 1000u, 70000u}) {
    for (size_t piece : {1u, 3u, 17u, 500u, 4096u, 9000u, 100000u}) {
      AnnexBStream st(32u << 20, Codec::kH264, step);
      const Out got = Pieces(s, piece, &st);
      EXPECT_EQ(got.avcc, whole.avcc) << "step " << step << ", piece " << piece;
      EXPECT_EQ(got.key, whole.key) << "step " << step << ", piece " << piece;
    }
  }
}

TEST(AnnexBStream, AFrameIsHandedOutOnlyOnceTheNextOneBegins) {
  const std::vector<uint8_t> s = Stream(3, 10);
  AnnexBStream st;
  int n = 0;
  auto sink = [&](const uint8_t*, const AccessUnit&) {
    ++n;
    return Status::Ok();
  };
  ASSERT_TRUE(st.Feed(s.data(), s.size(), sink).ok());
  EXPECT_EQ(n, 2) << "the last frame may still gain slices";
  ASSERT_TRUE(st.Finish(sink).ok());
  EXPECT_EQ(n, 3);
  EXPECT_EQ(st.sps(), (std::vector<uint8_t>{0x67, 0x42, 0x00, 0x1e, 0xab}));
  EXPECT_EQ(st.pps(), (std::vector<uint8_t>{0x68, 0xce, 0x3c, 0x80}));
}

TEST(AnnexBStream, BytesWithoutStartCodesAreBoundedNotBuffered) {
  AnnexBStream st(4096);
  std::vector<uint8_t> junk(1000, 0x55);
  auto sink = [](const uint8_t*, const AccessUnit&) { return Status::Ok(); };
  Status s;
  for (int i = 0; i < 10 && s.ok(); ++i) s = st.Feed(junk.data(), junk.size(), sink);
  EXPECT_EQ(s.code(), "KVS_FRAME_TOO_LARGE");
}

TEST(AnnexBStream, WholeAccessUnitAndStartCodeCheck) {
  const std::vector<uint8_t> s = Stream(1, 1);
  EXPECT_TRUE(StartsWithStartCode(s.data(), s.size()));
  const uint8_t avcc[] = {0, 0, 0, 5, 0x65};
  EXPECT_FALSE(StartsWithStartCode(avcc, sizeof(avcc)));
  AccessUnit au = WholeAccessUnit(s.data(), s.size());
  EXPECT_TRUE(au.keyframe);
  EXPECT_EQ(au.nals.size(), 4u);
}

}  // namespace
}  // namespace h264

namespace kvs {
namespace {

const std::vector<uint8_t> kFrame(1000, 0x22);
constexpr uint64_t kT0 = 1'700'000'000'000ull;

TEST(FragmentStoreSender, StopsAtFragmentBoundariesForRotationAndSkipsDroppedFragments) {
  StoreOptions o;
  o.fragment_duration_ms = 1000;
  FragmentStore s(o);
  for (int i = 0; i < 95; ++i) ASSERT_TRUE(s.PutFrame(kFrame.data(), kFrame.size(), kT0 + i * 34, i % 30 == 0).ok());
  EXPECT_EQ(s.Unpersisted(), 4u);
  std::vector<uint8_t> buf(1 << 20);
  bool boundary = false;
  std::vector<uint64_t> started;
  // A connection's first read never stops at its start; it ends at the first fragment's end.
  size_t n = s.ReadInto(buf.data(), buf.size(), true, &boundary, &started);
  EXPECT_TRUE(boundary);
  EXPECT_EQ(started, std::vector<uint64_t>{kT0});
  EXPECT_GT(n, 30 * kFrame.size());
  EXPECT_LT(n, 31 * kFrame.size());
  EXPECT_EQ(s.ReadInto(buf.data(), buf.size(), true, &boundary, nullptr), 0u);
  EXPECT_TRUE(boundary) << "sitting on the second fragment's start";
  // Without the stop, everything else comes, fragment starts reported.
  started.clear();
  while (s.ReadInto(buf.data(), 4096, false, &boundary, &started) > 0) {
  }
  EXPECT_EQ(started, (std::vector<uint64_t>{kT0 + 30 * 34, kT0 + 60 * 34, kT0 + 90 * 34}));
  EXPECT_TRUE(s.AllRead());
  // A fragment the service refuses for good is dropped; a resend skips it.
  EXPECT_EQ(s.DropFragment(kT0 + 30 * 34), 30u);
  EXPECT_EQ(s.DropFragment(12345), 0u);
  EXPECT_EQ(s.Stats().fragments, 3u);
  s.Rewind();
  started.clear();
  while (s.ReadInto(buf.data(), 4096, false, &boundary, &started) > 0) {
  }
  EXPECT_EQ(started, (std::vector<uint64_t>{kT0, kT0 + 60 * 34, kT0 + 90 * 34}));
}

}  // namespace
}  // namespace kvs
}  // namespace camwire
