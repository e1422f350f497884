#include "kvs/h264.h"

#include <algorithm>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "common/bytes.h"
#include "kvs/bit_reader.h"
#include "kvs/h265.h"

namespace camwire {
namespace h264 {

namespace {

// Limits that no conforming stream exceeds; anything larger is malformed
// input and is refused before it can drive arithmetic or allocation.
constexpr uint32_t kMaxMbs = 1 << 16;  // 65536 macroblocks per side
constexpr size_t kMaxSpsBytes = 4096;

using nal::BitReader;

void SkipScalingList(BitReader& br, int size) {
  int32_t last = 8, next = 8;
  for (int j = 0; j < size && br.ok(); ++j) {
    if (next != 0) {
      int32_t delta = br.Se();
      if (delta < -128 || delta > 127) {
        br.Fail();  // out of range
        return;
      }
      next = (last + delta + 256) % 256;
    }
    last = (next == 0) ? last : next;
  }
}

Status Malformed(const std::string& what) { return Status::Error("H264_MALFORMED_SPS", what); }

// The first j in [from, limit) where d[j - 2], d[j - 1], d[j] are 00 00 01 (a
// start code ends at j), or limit; from >= 2. Vector compares look at 32
// candidate ends at a time (SSE2 on x86-64, NEON on AArch64: both part of
// the base instruction set), reading only bytes before limit; the rest, and
// other processors, use memchr for the 0x01 and look back for the zeros.
// In compressed slice data a 0x01 byte comes about once in 256, so memchr
// returns every few hundred bytes: the vector loop does not stop at all.
size_t FindStartCodeEnd(const uint8_t* d, size_t from, size_t limit) {
  if (from >= limit) return limit;
  size_t j = from;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  const __m128i one = _mm_set1_epi8(1);
  auto ends = [&](size_t at) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + at - 2));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + at - 1));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + at));
    return _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(a, zero), _mm_cmpeq_epi8(b, zero)), _mm_cmpeq_epi8(c, one));
  };
  while (limit - j >= 32) {
    const __m128i lo = ends(j);
    const __m128i hi = ends(j + 16);
    const uint32_t bits = static_cast<uint32_t>(_mm_movemask_epi8(lo)) | (static_cast<uint32_t>(_mm_movemask_epi8(hi)) << 16);
    if (bits) return j + static_cast<size_t>(__builtin_ctz(bits));
    j += 32;
  }
#elif defined(__aarch64__)
  const uint8x16_t zero = vdupq_n_u8(0);
  const uint8x16_t one = vdupq_n_u8(1);
  auto ends = [&](size_t at) {
    const uint8x16_t a = vceqq_u8(vld1q_u8(d + at - 2), zero);
    const uint8x16_t b = vceqq_u8(vld1q_u8(d + at - 1), zero);
    const uint8x16_t c = vceqq_u8(vld1q_u8(d + at), one);
    return vandq_u8(vandq_u8(a, b), c);
  };
  while (limit - j >= 32) {
    if (vmaxvq_u8(vorrq_u8(ends(j), ends(j + 16))) != 0) break;  // one in these 32: the byte loop below finds it
    j += 32;
  }
#endif
  while (j < limit) {
    const void* hit = std::memchr(d + j, 1, limit - j);
    if (!hit) return limit;
    j = static_cast<size_t>(static_cast<const uint8_t*>(hit) - d);
    if (d[j - 1] == 0 && d[j - 2] == 0) return j;
    ++j;
  }
  return limit;
}

}  // namespace

bool IsAud(Codec codec, uint8_t type) { return codec == Codec::kH265 ? type == 35 : type == kAud; }
bool IsSlice(Codec codec, uint8_t type) { return codec == Codec::kH265 ? type < 32 : (type == kNonIdrSlice || type == kIdrSlice); }
bool IsKeyframeNal(Codec codec, uint8_t type) { return codec == Codec::kH265 ? (type >= 16 && type <= 23) : type == kIdrSlice; }

void AnnexBScanner::Finish(size_t end, std::vector<NalUnit>* out) {
  // Trailing zero bytes belong to the next start code, not to the unit.
  while (end > start_ && data_[end - 1] == 0) --end;
  if (end > start_) {
    NalUnit n;
    n.offset = start_;
    n.size = end - start_;
    n.type = NalTypeOf(codec_, data_[start_]);
    out->push_back(n);
  }
}

bool AnnexBScanner::Next(size_t window, std::vector<NalUnit>* out) {
  if (done_) return false;
  const size_t limit = window >= size_ - std::min(size_, next_) ? size_ : next_ + window;
  for (size_t i = next_; (i = FindStartCodeEnd(data_, i, limit)) < limit; ++i) {
    if (start_ != SIZE_MAX) Finish(i - 2, out);
    start_ = i + 1;
  }
  next_ = std::max(next_, limit);
  if (limit < size_) return true;
  if (start_ != SIZE_MAX && start_ < size_) Finish(size_, out);
  done_ = true;
  return false;
}

std::vector<NalUnit> SplitAnnexB(const uint8_t* data, size_t size, Codec codec) {
  std::vector<NalUnit> out;
  AnnexBScanner scan(data, size, codec);
  while (scan.Next(SIZE_MAX, &out)) {
  }
  return out;
}

std::vector<uint8_t> Unescape(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out;
  out.reserve(size);
  int zeros = 0;
  for (size_t i = 0; i < size; ++i) {
    if (zeros >= 2 && data[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = data[i] == 0 ? zeros + 1 : 0;
    out.push_back(data[i]);
  }
  return out;
}

Result<SpsInfo> ParseSps(const uint8_t* nal, size_t size) {
  if (size < 4) return Malformed("SPS shorter than 4 bytes");
  if (size > kMaxSpsBytes) return Malformed("SPS longer than " + std::to_string(kMaxSpsBytes) + " bytes");
  if ((nal[0] & 0x1f) != kSps) return Malformed("not an SPS NAL unit (type " + std::to_string(nal[0] & 0x1f) + ")");
  std::vector<uint8_t> rbsp = Unescape(nal + 1, size - 1);
  BitReader br(rbsp.data(), rbsp.size());
  SpsInfo s;
  s.profile_idc = static_cast<uint8_t>(br.Bits(8));
  s.constraint_flags = static_cast<uint8_t>(br.Bits(8));
  s.level_idc = static_cast<uint8_t>(br.Bits(8));
  s.sps_id = br.Ue();
  if (s.sps_id > 31) return Malformed("seq_parameter_set_id > 31");
  const uint8_t p = s.profile_idc;
  if (p == 100 || p == 110 || p == 122 || p == 244 || p == 44 || p == 83 || p == 86 || p == 118 || p == 128 || p == 138 || p == 139 || p == 134 || p == 135) {
    s.chroma_format_idc = br.Ue();
    if (s.chroma_format_idc > 3) return Malformed("chroma_format_idc > 3");
    if (s.chroma_format_idc == 3) br.Bit();  // separate_colour_plane_flag
    if (br.Ue() > 6) return Malformed("bit_depth_luma > 14");
    if (br.Ue() > 6) return Malformed("bit_depth_chroma > 14");
    br.Bit();        // qpprime_y_zero_transform_bypass_flag
    if (br.Bit()) {  // seq_scaling_matrix_present_flag
      const int lists = s.chroma_format_idc == 3 ? 12 : 8;
      for (int i = 0; i < lists && br.ok(); ++i) {
        if (br.Bit()) SkipScalingList(br, i < 6 ? 16 : 64);
      }
    }
  }
  if (br.Ue() > 12) return Malformed("log2_max_frame_num_minus4 > 12");
  uint32_t poc_type = br.Ue();
  if (poc_type == 0) {
    if (br.Ue() > 12) return Malformed("log2_max_pic_order_cnt_lsb_minus4 > 12");
  } else if (poc_type == 1) {
    br.Bit();
    br.Se();
    br.Se();
    uint32_t cycle = br.Ue();
    if (cycle > 255) return Malformed("num_ref_frames_in_pic_order_cnt_cycle > 255");
    for (uint32_t i = 0; i < cycle && br.ok(); ++i) br.Se();
  } else if (poc_type != 2) {
    return Malformed("pic_order_cnt_type > 2");
  }
  br.Ue();   // max_num_ref_frames
  br.Bit();  // gaps_in_frame_num_value_allowed_flag
  uint32_t w_mbs = br.Ue() + 1;
  uint32_t h_map_units = br.Ue() + 1;
  s.frame_mbs_only = br.Bit() != 0;
  if (!s.frame_mbs_only) br.Bit();  // mb_adaptive_frame_field_flag
  br.Bit();                         // direct_8x8_inference_flag
  uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
  if (br.Bit()) {
    crop_l = br.Ue();
    crop_r = br.Ue();
    crop_t = br.Ue();
    crop_b = br.Ue();
  }
  if (!br.ok()) return Malformed("SPS ends before its frame size");
  if (w_mbs > kMaxMbs || h_map_units > kMaxMbs) return Malformed("frame size out of range");
  const uint64_t width = uint64_t{w_mbs} * 16;
  const uint64_t height = uint64_t{h_map_units} * 16 * (s.frame_mbs_only ? 1 : 2);
  // Crop units (7.4.2.1.1): chroma subsampling and field coding scale them.
  uint64_t unit_x = 1, unit_y = s.frame_mbs_only ? 1 : 2;
  if (s.chroma_format_idc == 1) {
    unit_x = 2;
    unit_y *= 2;
  } else if (s.chroma_format_idc == 2) {
    unit_x = 2;
  }
  const uint64_t cw = (uint64_t{crop_l} + crop_r) * unit_x;
  const uint64_t ch = (uint64_t{crop_t} + crop_b) * unit_y;
  if (cw >= width || ch >= height) return Malformed("cropping removes the whole picture");
  s.width = static_cast<uint32_t>(width - cw);
  s.height = static_cast<uint32_t>(height - ch);
  return s;
}

Result<std::vector<uint8_t>> BuildAvcC(const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size) {
  Result<SpsInfo> info = ParseSps(sps, sps_size);
  if (!info.ok()) return info.status();
  if (pps_size < 2 || (pps[0] & 0x1f) != kPps) return Status::Error("H264_MALFORMED_PPS", "not a PPS NAL unit");
  if (pps_size > 0xffff) return Status::Error("H264_MALFORMED_PPS", "PPS longer than 65535 bytes");
  std::vector<uint8_t> out;
  out.reserve(11 + sps_size + pps_size);
  out.push_back(1);         // configurationVersion
  out.push_back(sps[1]);    // AVCProfileIndication
  out.push_back(sps[2]);    // profile_compatibility
  out.push_back(sps[3]);    // AVCLevelIndication
  out.push_back(0xfc | 3);  // reserved + lengthSizeMinusOne = 3 (4-byte lengths)
  out.push_back(0xe0 | 1);  // reserved + one SPS
  AppendBe16(out, static_cast<uint16_t>(sps_size));
  out.insert(out.end(), sps, sps + sps_size);
  out.push_back(1);  // one PPS
  AppendBe16(out, static_cast<uint16_t>(pps_size));
  out.insert(out.end(), pps, pps + pps_size);
  const uint8_t p = info.value().profile_idc;
  if (p == 100 || p == 110 || p == 122 || p == 144) {
    // High profiles carry chroma format and bit depths (14496-15 5.3.3.1.2).
    out.push_back(static_cast<uint8_t>(0xfc | info.value().chroma_format_idc));
    out.push_back(0xf8);  // bit_depth_luma_minus8 = 0 (8-bit, what KVS consumers decode)
    out.push_back(0xf8);
    out.push_back(0);  // numOfSequenceParameterSetExt
  }
  return out;
}

std::vector<AccessUnit> GroupAccessUnits(const uint8_t* data, const std::vector<NalUnit>& nals, Codec codec) {
  if (codec == Codec::kH265) return h265::GroupAccessUnits(data, nals);
  std::vector<AccessUnit> out;
  AccessUnit cur;
  bool cur_has_slice = false;
  auto flush = [&]() {
    if (!cur.nals.empty()) out.push_back(cur);
    cur = AccessUnit();
    cur_has_slice = false;
  };
  for (const NalUnit& n : nals) {
    const bool slice = n.type == kNonIdrSlice || n.type == kIdrSlice;
    if (n.type == kAud) {
      flush();
    } else if (!slice && cur_has_slice && (n.type == kSps || n.type == kPps || n.type == kSei || (n.type >= 14 && n.type <= 18))) {
      flush();
    } else if (slice && cur_has_slice && n.size >= 2) {
      // first_mb_in_slice == 0 (ue(v) coded as a single 1 bit) opens a new picture.
      if ((data[n.offset + 1] & 0x80) != 0) flush();
    }
    cur.nals.push_back(n);
    if (slice) cur_has_slice = true;
    if (n.type == kIdrSlice) cur.keyframe = true;
  }
  flush();
  return out;
}

size_t AvccSize(const AccessUnit& au) {
  size_t total = 0;
  for (const NalUnit& n : au.nals) {
    if (!IsAud(au.codec, n.type)) total += 4 + n.size;
  }
  return total;
}

std::vector<uint8_t> ToAvcc(const uint8_t* data, const AccessUnit& au) {
  std::vector<uint8_t> out;
  out.reserve(AvccSize(au));
  AppendAvcc(out, data, au);
  return out;
}

void AppendAvcc(std::vector<uint8_t>& out, const uint8_t* data, const AccessUnit& au) {
  for (const NalUnit& n : au.nals) {
    if (IsAud(au.codec, n.type)) continue;
    const uint32_t len = static_cast<uint32_t>(n.size);
    AppendBe32(out, len);
    out.insert(out.end(), data + n.offset, data + n.offset + n.size);
  }
}

}  // namespace h264
}  // namespace camwire
