#include "kvs/h265.h"

#include <string>

#include "common/bytes.h"
#include "kvs/bit_reader.h"

namespace camwire {
namespace h265 {

namespace {

// Limits that no conforming stream exceeds; anything larger is malformed
// input and is refused before it can drive arithmetic or allocation.
//
// Picture size: A.4.1 bounds each side by Sqrt(MaxLumaPs * 8); the largest
// MaxLumaPs of any level (6.x, Table A.8) is 35 651 584, so no conforming
// picture is wider or taller than 16888 luma samples. Larger values also keep
// width * height far inside 32 bits.
constexpr uint32_t kMaxPicSide = 16888;
// hvcC stores each unit's length in 16 bits.
constexpr size_t kMaxParamSetBytes = 0xffff;
// The fields ParseSps reads end within the first 166 RBSP bytes even with
// every ue(v) at its 63-bit worst (1 + 12 + 2 + 72 bytes of profile_tier_level
// with six sub-layers, then ten ue(v) and two flags); emulation prevention
// adds at most one byte in two. Only this much
// of the NAL is unescaped, so a large SPS costs no more than a small one.
constexpr size_t kSpsPrefixBytes = 512;

using nal::BitReader;

Status Malformed(const std::string& what) { return Status::Error("H265_MALFORMED_SPS", what); }

// The two-byte NAL unit header (7.3.1.2): forbidden_zero_bit, nal_unit_type,
// nuh_layer_id, nuh_temporal_id_plus1. Parameter sets of the base layer only:
// an SPS with nuh_layer_id > 0 has the multi-layer syntax (F.7.3.2.2.1).
// Returns an empty string when the header is acceptable, else what is wrong.
std::string CheckHeader(const uint8_t* nal, size_t size, uint8_t want_type, const char* name) {
  if (size < 3) return std::string(name) + " shorter than 3 bytes";
  if (size > kMaxParamSetBytes) return std::string(name) + " longer than 65535 bytes";
  if ((nal[0] & 0x80) != 0) return std::string(name) + ": forbidden_zero_bit is set";
  const uint8_t type = static_cast<uint8_t>((nal[0] >> 1) & 0x3f);
  if (type != want_type) return std::string(name) + " expected, got NAL unit type " + std::to_string(type);
  const unsigned layer = ((nal[0] & 1u) << 5) | (nal[1] >> 3);
  if (layer != 0) return std::string(name) + " of layer " + std::to_string(layer) + " (only the base layer is supported)";
  if ((nal[1] & 7) == 0) return std::string(name) + ": nuh_temporal_id_plus1 is 0";
  return std::string();
}

}  // namespace

std::vector<h264::AccessUnit> GroupAccessUnits(const uint8_t* data, const std::vector<h264::NalUnit>& nals) {
  std::vector<h264::AccessUnit> out;
  h264::AccessUnit cur;
  cur.codec = h264::Codec::kH265;
  bool cur_has_slice = false;
  auto flush = [&]() {
    if (!cur.nals.empty()) out.push_back(cur);
    cur = h264::AccessUnit();
    cur.codec = h264::Codec::kH265;
    cur_has_slice = false;
  };
  for (const h264::NalUnit& n : nals) {
    const uint8_t t = n.type;
    const bool slice = IsVcl(t);
    if (t == kAud) {
      flush();
    } else if (!slice && cur_has_slice && (t == kVps || t == kSps || t == kPps || t == kPrefixSei || (t >= 41 && t <= 44) || (t >= 48 && t <= 55))) {
      flush();
    } else if (slice && cur_has_slice && n.size >= 3) {
      // first_slice_segment_in_pic_flag: the first bit after the two-byte header.
      if ((data[n.offset + 2] & 0x80) != 0) flush();
    }
    cur.nals.push_back(n);
    if (slice) cur_has_slice = true;
    if (IsIrap(t)) cur.keyframe = true;
  }
  flush();
  return out;
}

Result<SpsInfo> ParseSps(const uint8_t* nal, size_t size) {
  if (nal == nullptr) return Malformed("no SPS");
  const std::string bad = CheckHeader(nal, size, kSps, "SPS");
  if (!bad.empty()) return Malformed(bad);
  const size_t body = size - 2 < kSpsPrefixBytes ? size - 2 : kSpsPrefixBytes;
  std::vector<uint8_t> rbsp = h264::Unescape(nal + 2, body);
  BitReader br(rbsp.data(), rbsp.size());
  SpsInfo s;
  br.Bits(4);  // sps_video_parameter_set_id
  const uint32_t max_sub_layers_minus1 = static_cast<uint32_t>(br.Bits(3));
  if (br.ok() && max_sub_layers_minus1 > 6) return Malformed("sps_max_sub_layers_minus1 > 6");
  s.max_sub_layers = static_cast<uint8_t>(max_sub_layers_minus1 + 1);
  s.temporal_id_nesting = br.Bit() != 0;
  // profile_tier_level(1, sps_max_sub_layers_minus1) (7.3.3): the general part.
  s.profile_space = static_cast<uint8_t>(br.Bits(2));
  s.tier = br.Bit() != 0;
  s.profile_idc = static_cast<uint8_t>(br.Bits(5));
  s.profile_compatibility = static_cast<uint32_t>(br.Bits(32));
  // progressive, interlaced, non_packed and frame_only flags, then 43 bits of
  // profile-specific constraints and general_inbld_flag/reserved: 48 bits.
  s.constraint_flags = br.Bits(48);
  s.level_idc = static_cast<uint8_t>(br.Bits(8));
  bool profile_present[6] = {};
  bool level_present[6] = {};
  for (uint32_t i = 0; i < max_sub_layers_minus1; ++i) {
    profile_present[i] = br.Bit() != 0;
    level_present[i] = br.Bit() != 0;
  }
  if (max_sub_layers_minus1 > 0) br.Skip(2 * (8 - max_sub_layers_minus1));  // reserved_zero_2bits
  for (uint32_t i = 0; i < max_sub_layers_minus1; ++i) {
    if (profile_present[i]) br.Skip(88);  // space, tier, idc, 32 flags, 48 constraint bits
    if (level_present[i]) br.Skip(8);     // sub_layer_level_idc
  }
  if (!br.ok()) return Malformed("SPS ends inside profile_tier_level");
  const uint32_t sps_id = br.Ue();
  if (br.ok() && sps_id > 15) return Malformed("sps_seq_parameter_set_id > 15");
  s.sps_id = static_cast<uint8_t>(sps_id);
  const uint32_t chroma = br.Ue();
  if (br.ok() && chroma > 3) return Malformed("chroma_format_idc > 3");
  s.chroma_format_idc = static_cast<uint8_t>(chroma);
  bool separate_planes = false;
  if (chroma == 3) separate_planes = br.Bit() != 0;
  const uint32_t coded_w = br.Ue();
  const uint32_t coded_h = br.Ue();
  if (!br.ok()) return Malformed("SPS ends before its picture size");
  if (coded_w == 0 || coded_h == 0) return Malformed("picture width or height is 0");
  if (coded_w > kMaxPicSide || coded_h > kMaxPicSide) {
    return Malformed("picture size " + std::to_string(coded_w) + "x" + std::to_string(coded_h) + " beyond 16888 (level 6.2's bound)");
  }
  uint32_t win[4] = {0, 0, 0, 0};  // left, right, top, bottom
  if (br.Bit()) {                  // conformance_window_flag
    for (uint32_t& w : win) w = br.Ue();
  }
  const uint32_t depth_luma_minus8 = br.Ue();
  const uint32_t depth_chroma_minus8 = br.Ue();
  if (!br.ok()) return Malformed("SPS ends before its bit depths");
  if (depth_luma_minus8 > 8) return Malformed("bit_depth_luma_minus8 > 8");
  if (depth_chroma_minus8 > 8) return Malformed("bit_depth_chroma_minus8 > 8");
  s.bit_depth_luma = static_cast<uint8_t>(depth_luma_minus8 + 8);
  s.bit_depth_chroma = static_cast<uint8_t>(depth_chroma_minus8 + 8);
  // Conformance window offsets are in chroma samples (Table 6-1): SubWidthC
  // and SubHeightC are 2 for 4:2:0, 2 and 1 for 4:2:2, else 1 (4:4:4,
  // monochrome, separate colour planes).
  uint64_t sub_w = 1, sub_h = 1;
  if (!separate_planes && chroma == 1) {
    sub_w = 2;
    sub_h = 2;
  } else if (!separate_planes && chroma == 2) {
    sub_w = 2;
  }
  const uint64_t cut_w = (uint64_t{win[0]} + win[1]) * sub_w;
  const uint64_t cut_h = (uint64_t{win[2]} + win[3]) * sub_h;
  if (cut_w >= coded_w || cut_h >= coded_h) return Malformed("conformance window leaves no picture");
  s.coded_width = coded_w;
  s.coded_height = coded_h;
  s.width = static_cast<uint32_t>(coded_w - cut_w);
  s.height = static_cast<uint32_t>(coded_h - cut_h);
  return s;
}

Result<std::vector<uint8_t>> BuildHvcC(const uint8_t* vps, size_t vps_size, const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size) {
  if (vps == nullptr) return Status::Error("H265_MALFORMED_VPS", "no VPS");
  std::string bad = CheckHeader(vps, vps_size, kVps, "VPS");
  if (!bad.empty()) return Status::Error("H265_MALFORMED_VPS", bad);
  Result<SpsInfo> parsed = ParseSps(sps, sps_size);
  if (!parsed.ok()) return parsed.status();
  if (pps == nullptr) return Status::Error("H265_MALFORMED_PPS", "no PPS");
  bad = CheckHeader(pps, pps_size, kPps, "PPS");
  if (!bad.empty()) return Status::Error("H265_MALFORMED_PPS", bad);
  const SpsInfo& s = parsed.value();

  std::vector<uint8_t> out;
  out.reserve(23 + 3 * 5 + vps_size + sps_size + pps_size);
  out.push_back(1);  // configurationVersion
  out.push_back(static_cast<uint8_t>((s.profile_space << 6) | (s.tier ? 0x20 : 0) | s.profile_idc));
  AppendBe32(out, s.profile_compatibility);
  for (int shift = 40; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(s.constraint_flags >> shift));
  out.push_back(s.level_idc);
  // reserved 1111 + min_spatial_segmentation_idc 0: no segmentation is
  // promised (it lives in the VUI, which is not parsed; 0 is always allowed).
  AppendBe16(out, 0xf000);
  out.push_back(0xfc);  // reserved 111111 + parallelismType 0 (unknown)
  out.push_back(static_cast<uint8_t>(0xfc | s.chroma_format_idc));
  out.push_back(static_cast<uint8_t>(0xf8 | (s.bit_depth_luma - 8)));
  out.push_back(static_cast<uint8_t>(0xf8 | (s.bit_depth_chroma - 8)));
  AppendBe16(out, 0);  // avgFrameRate: unspecified
  // constantFrameRate 0 (2 bits), numTemporalLayers (3), temporalIdNested
  // (1), lengthSizeMinusOne 3 (2): 4-byte lengths, as the AVCC form writes.
  out.push_back(static_cast<uint8_t>((s.max_sub_layers << 3) | (s.temporal_id_nesting ? 4 : 0) | 3));
  out.push_back(3);  // numOfArrays: VPS, SPS, PPS
  // array_completeness 1: the record holds every parameter set a decoder
  // needs to start. Strictly (14496-15 8.3.3.1.2) 1 also says no unit of
  // that type is in the stream, and the AVCC frames keep their in-band
  // VPS/SPS/PPS; ffmpeg's Matroska muxer writes 0 for that reason. ffmpeg's
  // decoder ignores the flag (the same frames decode with either).
  const uint8_t* units[3] = {vps, sps, pps};
  const size_t sizes[3] = {vps_size, sps_size, pps_size};
  const uint8_t types[3] = {kVps, kSps, kPps};
  for (int i = 0; i < 3; ++i) {
    out.push_back(static_cast<uint8_t>(0x80 | types[i]));  // array_completeness 1, reserved 0, NAL_unit_type
    AppendBe16(out, 1);                                    // numNalus
    AppendBe16(out, static_cast<uint16_t>(sizes[i]));
    out.insert(out.end(), units[i], units[i] + sizes[i]);
  }
  return out;
}

}  // namespace h265
}  // namespace camwire
