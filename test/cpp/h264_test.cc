#include "kvs/h264.h"
#include "kvs/mkv.h"

#include <gtest/gtest.h>

#include "bit_writer.h"

#include <random>

namespace camwire {
namespace h264 {
namespace {

using testing::BitWriter;

struct SpsSpec {
  uint8_t profile = 66;
  uint8_t level = 31;
  uint8_t constraint = 0xc0;
  uint32_t w_mbs = 80, h_units = 45;
  bool frame_mbs_only = true;
  uint32_t crop[4] = {0, 0, 0, 0};
  uint32_t chroma = 1;
  bool scaling = false;
  uint32_t poc_type = 0;
};

std::vector<uint8_t> MakeSps(const SpsSpec& s) {
  BitWriter w;
  w.Bits(s.profile, 8);
  w.Bits(s.constraint, 8);
  w.Bits(s.level, 8);
  w.Ue(0);
  if (s.profile == 100) {
    w.Ue(s.chroma);
    if (s.chroma == 3) w.Bit(0);
    w.Ue(0);
    w.Ue(0);
    w.Bit(0);
    w.Bit(s.scaling ? 1 : 0);
    if (s.scaling) {
      for (int i = 0; i < 8; ++i) {
        w.Bit(i == 0 ? 1 : 0);
        if (i == 0) {
          for (int j = 0; j < 16; ++j) w.Se(j == 0 ? 8 : 0);
        }
      }
    }
  }
  w.Ue(0);  // log2_max_frame_num_minus4
  w.Ue(s.poc_type);
  if (s.poc_type == 0) w.Ue(2);
  if (s.poc_type == 1) {
    w.Bit(0);
    w.Se(0);
    w.Se(1);
    w.Ue(2);
    w.Se(-1);
    w.Se(3);
  }
  w.Ue(1);  // max_num_ref_frames
  w.Bit(0);
  w.Ue(s.w_mbs - 1);
  w.Ue(s.h_units - 1);
  w.Bit(s.frame_mbs_only ? 1 : 0);
  if (!s.frame_mbs_only) w.Bit(0);
  w.Bit(1);
  const bool crop = s.crop[0] || s.crop[1] || s.crop[2] || s.crop[3];
  w.Bit(crop ? 1 : 0);
  if (crop) {
    for (uint32_t c : s.crop) w.Ue(c);
  }
  w.Bit(0);  // vui_parameters_present_flag
  return w.Nal({0x67});
}

TEST(H264Sps, Baseline1080pWithBottomCrop) {
  SpsSpec s;
  s.w_mbs = 120;
  s.h_units = 68;
  s.crop[3] = 4;  // 8 lines in 4:2:0
  auto sps = MakeSps(s);
  auto r = ParseSps(sps.data(), sps.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().width, 1920u);
  EXPECT_EQ(r.value().height, 1080u);
  EXPECT_EQ(r.value().profile_idc, 66);
  EXPECT_EQ(r.value().level_idc, 31);
}

TEST(H264Sps, HighProfileWithScalingListsAndPocType1) {
  SpsSpec s;
  s.profile = 100;
  s.scaling = true;
  s.poc_type = 1;
  auto sps = MakeSps(s);
  auto r = ParseSps(sps.data(), sps.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().width, 1280u);
  EXPECT_EQ(r.value().height, 720u);
  EXPECT_EQ(r.value().chroma_format_idc, 1u);
}

TEST(H264Sps, InterlacedFieldCodingDoublesHeightAndCropUnits) {
  SpsSpec s;
  s.w_mbs = 120;
  s.h_units = 34;
  s.frame_mbs_only = false;
  s.crop[3] = 2;  // unit 4 lines for 4:2:0 fields
  auto sps = MakeSps(s);
  auto r = ParseSps(sps.data(), sps.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().height, 1080u);
  EXPECT_FALSE(r.value().frame_mbs_only);
}

TEST(H264Sps, EmulationPreventionBytesAreRemoved) {
  const uint8_t escaped[] = {0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x07};
  auto u = Unescape(escaped, sizeof escaped);
  EXPECT_EQ(u, (std::vector<uint8_t>{0, 0, 1, 0, 0, 0, 7}));
  // An SPS whose payload needs escaping parses the same.
  SpsSpec s;
  s.profile = 0;  // profile, constraints and level 0 put 00 00 00 in the stream
  s.constraint = 0;
  s.level = 0;
  auto sps = MakeSps(s);
  bool has_escape = false;
  for (size_t i = 2; i < sps.size(); ++i) has_escape |= sps[i] == 3 && sps[i - 1] == 0 && sps[i - 2] == 0;
  EXPECT_TRUE(has_escape);
  auto r = ParseSps(sps.data(), sps.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().width, 1280u);
}

TEST(H264Sps, MalformedInputIsAnErrorNotACrash) {
  SpsSpec s;
  auto sps = MakeSps(s);
  for (size_t n = 0; n < sps.size() - 1; ++n) {
    auto r = ParseSps(sps.data(), n);
    EXPECT_FALSE(r.ok()) << "truncated to " << n;
    if (!r.ok()) EXPECT_EQ(r.status().code(), "H264_MALFORMED_SPS");
  }
  std::vector<uint8_t> zeros(64, 0);
  zeros[0] = 0x67;
  EXPECT_FALSE(ParseSps(zeros.data(), zeros.size()).ok());
  SpsSpec crop;
  crop.crop[3] = 400;
  auto c = MakeSps(crop);
  auto rc = ParseSps(c.data(), c.size());
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.status().message().find("cropping"), std::string::npos);
  const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
  EXPECT_FALSE(ParseSps(pps, sizeof pps).ok());
}

TEST(H264Sps, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b(1 + rng() % 40);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    b[0] = 0x67;
    auto r = ParseSps(b.data(), b.size());
    if (r.ok()) {
      EXPECT_GT(r.value().width, 0u);
      EXPECT_GT(r.value().height, 0u);
    }
  }
}

std::vector<uint8_t> Stream(const std::vector<std::vector<uint8_t>>& nals, const std::vector<int>& start_code_sizes) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < nals.size(); ++i) {
    if (start_code_sizes[i] == 4) out.push_back(0);
    out.insert(out.end(), {0, 0, 1});
    out.insert(out.end(), nals[i].begin(), nals[i].end());
  }
  return out;
}

TEST(H264AnnexB, SplitsThreeAndFourByteStartCodesAndIgnoresGarbageAndTrailingZeros) {
  std::vector<std::vector<uint8_t>> nals = {{0x09, 0xf0}, {0x67, 0x42, 0x00, 0x1f}, {0x68, 0xce}, {0x65, 0x88, 0x84, 0x00, 0x01}, {0x41, 0x9a}};
  auto s = Stream(nals, {4, 4, 3, 4, 3});
  s.insert(s.begin(), {0xde, 0xad});  // bytes before the first start code
  s.insert(s.end(), {0x00, 0x00});    // trailing_zero_8bits
  auto units = SplitAnnexB(s.data(), s.size());
  ASSERT_EQ(units.size(), nals.size());
  for (size_t i = 0; i < nals.size(); ++i) {
    EXPECT_EQ(std::vector<uint8_t>(s.begin() + units[i].offset, s.begin() + units[i].offset + units[i].size), nals[i]) << i;
  }
  EXPECT_EQ(units[3].type, kIdrSlice);
  EXPECT_TRUE(SplitAnnexB(s.data(), 0).empty());
  const uint8_t none[] = {1, 2, 3, 4};
  EXPECT_TRUE(SplitAnnexB(none, sizeof none).empty());
}

// The vectorised start-code search against the plain byte loop, on buffers
// dense in zeros and ones (start codes, 4-byte start codes, 00 00 03
// escapes, runs of zeros) at every length and alignment around its 32-byte
// steps, whole and through the windowed scanner.
TEST(H264AnnexB, SplitMatchesTheByteLoopOnZeroDenseBuffers) {
  auto reference = [](const uint8_t* d, size_t n) {
    std::vector<std::pair<size_t, size_t>> out;
    size_t start = SIZE_MAX;
    auto finish = [&](size_t end) {
      while (end > start && d[end - 1] == 0) --end;
      if (end > start) out.emplace_back(start, end - start);
    };
    for (size_t j = 2; j < n; ++j) {
      if (d[j] == 1 && d[j - 1] == 0 && d[j - 2] == 0) {
        if (start != SIZE_MAX) finish(j - 2);
        start = j + 1;
      }
    }
    if (start != SIZE_MAX) finish(n);
    return out;
  };
  std::mt19937 rng(7);
  const uint8_t alphabet[] = {0, 0, 0, 1, 3, 0x65, 0xff};
  for (int round = 0; round < 20000; ++round) {
    const size_t n = round < 160 ? static_cast<size_t>(round) : rng() % 600;
    std::vector<uint8_t> buf(n + 1);
    // Dense (start codes everywhere) or sparse (mostly other bytes: the vector loop runs long stretches).
    const bool sparse = round % 3 == 0;
    for (auto& b : buf) {
      if (sparse)
        b = rng() % 64 == 0 ? alphabet[rng() % sizeof(alphabet)] : static_cast<uint8_t>(2 + rng() % 254);
      else
        b = rng() % 4 == 0 ? static_cast<uint8_t>(rng()) : alphabet[rng() % sizeof(alphabet)];
    }
    const size_t off = rng() % 2;  // unaligned too
    const uint8_t* d = buf.data() + off;
    const size_t len = n + 1 - off;
    std::vector<std::pair<size_t, size_t>> got;
    for (const NalUnit& u : SplitAnnexB(d, len)) got.emplace_back(u.offset, u.size);
    const auto want = reference(d, len);
    ASSERT_EQ(got, want) << "round " << round << ", length " << len;
    if (round % 50 == 0) {
      for (size_t window : {size_t{1}, size_t{5}, size_t{31}, size_t{32}, size_t{33}, size_t{100}}) {
        AnnexBScanner scan(d, len);
        std::vector<NalUnit> units;
        while (scan.Next(window, &units)) {
        }
        got.clear();
        for (const NalUnit& u : units) got.emplace_back(u.offset, u.size);
        ASSERT_EQ(got, want) << "round " << round << ", window " << window;
      }
    }
  }
}

// The windowed scanner (DetectCodec, PackageAnnexB read a big stream a few
// MiB at a time) finds SplitAnnexB's units whatever the window, and the
// packager's MKV is byte for byte the same for any window size.
TEST(H264AnnexB, WindowsChangeNeitherTheUnitsNorTheMkv) {
  std::mt19937 rng(11);
  std::vector<uint8_t> es;
  auto put = [&](const std::vector<uint8_t>& nal, bool four) {
    es.insert(es.end(), {0, 0});
    if (four) es.push_back(0);
    es.push_back(1);
    es.insert(es.end(), nal.begin(), nal.end());
  };
  auto slice = [&](uint8_t header, size_t n) {
    std::vector<uint8_t> v{header, 0x88};                                               // first_mb_in_slice 0: a new picture
    for (size_t i = 0; i < n; ++i) v.push_back(static_cast<uint8_t>(1 + rng() % 255));  // no 00 00 inside
    return v;
  };
  SpsSpec spec;
  for (int gop = 0; gop < 4; ++gop) {
    put(MakeSps(spec), true);
    put({0x68, 0xce, 0x38, 0x80}, false);
    put(slice(0x65, 3000 + rng() % 5000), true);
    for (int f = 0; f < 14; ++f) put(slice(0x41, 10 + rng() % 2000), f % 3 == 0);
  }
  es.insert(es.end(), {0, 0});  // trailing zeros
  const std::vector<NalUnit> whole = SplitAnnexB(es.data(), es.size());
  ASSERT_EQ(whole.size(), 4u * 17);  // SPS, PPS, IDR and 14 P slices a GOP
  for (size_t window : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{1000}, size_t{4096}}) {
    AnnexBScanner scan(es.data(), es.size());
    std::vector<NalUnit> got;
    while (scan.Next(window, &got)) {
    }
    ASSERT_EQ(got.size(), whole.size()) << "window " << window;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset, whole[i].offset);
      EXPECT_EQ(got[i].size, whole[i].size);
    }
  }
  mkv::PackageOptions o;
  o.fragment_duration_ms = 0;
  Result<mkv::PackageResult> ref = mkv::PackageAnnexB(es.data(), es.size(), o);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(ref.value().frames, 4u * 15);
  EXPECT_EQ(ref.value().fragments, 4u);
  for (size_t window : {size_t{1}, size_t{5}, size_t{333}, size_t{10000}}) {
    o.window = window;
    // And through a sink in small pieces: the same bytes.
    std::vector<uint8_t> sunk;
    o.sink_chunk = 1000;
    o.sink = [&](const std::vector<mkv::PackageOptions::Span>& spans) {
      for (const auto& sp : spans) sunk.insert(sunk.end(), sp.data, sp.data + sp.size);
      return Status::Ok();
    };
    Result<mkv::PackageResult> r = mkv::PackageAnnexB(es.data(), es.size(), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r.value().mkv.empty());
    EXPECT_EQ(r.value().bytes, ref.value().mkv.size());
    EXPECT_EQ(sunk, ref.value().mkv) << "window " << window;
    o.sink = nullptr;
  }
}

// A stream big enough for the in-memory packager's second thread (it faults
// the output in ahead of it from 16 MiB up): the MKV in memory is byte for
// byte the one a sink receives, and the same packaged twice.
TEST(H264AnnexB, ALargeInMemoryMkvEqualsTheSinksBytes) {
  std::mt19937 rng(5);
  std::vector<uint8_t> es;
  auto put = [&](const std::vector<uint8_t>& nal) {
    es.insert(es.end(), {0, 0, 0, 1});
    es.insert(es.end(), nal.begin(), nal.end());
  };
  std::vector<uint8_t> body(200000);
  for (auto& b : body) b = static_cast<uint8_t>(1 + rng() % 255);  // no 00 00 inside
  SpsSpec spec;
  for (int gop = 0; gop < 6; ++gop) {
    put(MakeSps(spec));
    put({0x68, 0xce, 0x38, 0x80});
    for (int f = 0; f < 20; ++f) {
      std::vector<uint8_t> slice{static_cast<uint8_t>(f == 0 ? 0x65 : 0x41), 0x88};
      const size_t from = rng() % 1000;
      slice.insert(slice.end(), body.begin() + from, body.begin() + from + 150000 + rng() % 40000);
      put(slice);
    }
  }
  ASSERT_GT(es.size(), size_t{18} << 20);
  mkv::PackageOptions o;
  Result<mkv::PackageResult> mem = mkv::PackageAnnexB(es.data(), es.size(), o);
  ASSERT_TRUE(mem.ok()) << mem.status().message();
  EXPECT_EQ(mem.value().frames, 6u * 20);
  EXPECT_EQ(mem.value().bytes, mem.value().mkv.size());
  Result<mkv::PackageResult> again = mkv::PackageAnnexB(es.data(), es.size(), o);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again.value().mkv == mem.value().mkv);
  std::vector<uint8_t> sunk;
  o.sink = [&](const std::vector<mkv::PackageOptions::Span>& spans) {
    for (const auto& sp : spans) sunk.insert(sunk.end(), sp.data, sp.data + sp.size);
    return Status::Ok();
  };
  Result<mkv::PackageResult> viaSink = mkv::PackageAnnexB(es.data(), es.size(), o);
  ASSERT_TRUE(viaSink.ok());
  EXPECT_TRUE(sunk == mem.value().mkv);
}

TEST(H264AnnexB, GroupsAccessUnitsAndMarksKeyframes) {
  // AUD SPS PPS IDR(first_mb=0) IDR(first_mb!=0) | P(first_mb=0) | SEI P | AUD P
  std::vector<std::vector<uint8_t>> nals = {{0x09, 0xf0}, {0x67, 0x42}, {0x68, 0xce}, {0x65, 0x88}, {0x65, 0x40},
                                            {0x41, 0x9a}, {0x06, 0x05}, {0x41, 0x9a}, {0x09, 0xf0}, {0x41, 0x9a}};
  auto s = Stream(nals, std::vector<int>(nals.size(), 4));
  auto units = SplitAnnexB(s.data(), s.size());
  auto aus = GroupAccessUnits(s.data(), units);
  ASSERT_EQ(aus.size(), 4u);
  EXPECT_EQ(aus[0].nals.size(), 5u);
  EXPECT_TRUE(aus[0].keyframe);
  EXPECT_EQ(aus[1].nals.size(), 1u);
  EXPECT_FALSE(aus[1].keyframe);
  EXPECT_EQ(aus[2].nals.size(), 2u);
  EXPECT_EQ(aus[3].nals.size(), 2u);
  // AVCC: the AUD is dropped, every unit gets a 4-byte big-endian length.
  auto avcc = ToAvcc(s.data(), aus[0]);
  EXPECT_EQ(avcc, (std::vector<uint8_t>{0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 2, 0x68, 0xce, 0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 2, 0x65, 0x40}));
}

TEST(H264AvcC, RecordLayoutForBaselineAndHigh) {
  SpsSpec base;
  auto sps = MakeSps(base);
  const std::vector<uint8_t> pps = {0x68, 0xce, 0x3c, 0x80};
  auto r = BuildAvcC(sps.data(), sps.size(), pps.data(), pps.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& a = r.value();
  ASSERT_EQ(a.size(), 6 + 2 + sps.size() + 1 + 2 + pps.size());
  EXPECT_EQ(a[0], 1);
  EXPECT_EQ(a[1], 66);
  EXPECT_EQ(a[2], 0xc0);
  EXPECT_EQ(a[3], 31);
  EXPECT_EQ(a[4], 0xff);
  EXPECT_EQ(a[5], 0xe1);
  EXPECT_EQ((a[6] << 8) | a[7], static_cast<int>(sps.size()));
  EXPECT_EQ(std::vector<uint8_t>(a.begin() + 8, a.begin() + 8 + sps.size()), sps);
  EXPECT_EQ(a[8 + sps.size()], 1);
  SpsSpec high;
  high.profile = 100;
  auto hs = MakeSps(high);
  auto rh = BuildAvcC(hs.data(), hs.size(), pps.data(), pps.size());
  ASSERT_TRUE(rh.ok());
  EXPECT_EQ(rh.value().size(), 6 + 2 + hs.size() + 1 + 2 + pps.size() + 4);
  EXPECT_EQ(rh.value()[rh.value().size() - 4], 0xfd);                          // chroma_format_idc 1
  EXPECT_FALSE(BuildAvcC(hs.data(), hs.size(), sps.data(), sps.size()).ok());  // an SPS is not a PPS
}

}  // namespace
}  // namespace h264
}  // namespace camwire
