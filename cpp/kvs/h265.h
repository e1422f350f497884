// H.265 (HEVC) specifics for the KVS producer: NAL unit types, access-unit
// grouping, SPS parsing (picture size, profile/tier/level, chroma format and
// bit depths) and the hvcC CodecPrivate Matroska stores for V_MPEGH/ISO/HEVC
// (ISO/IEC 14496-15 8.3.3.1). Splitting and the AVCC form are shared with
// H.264 (kvs/h264.h, Codec::kH265). Every read is bounds-checked; a malformed
// parameter set is an error result, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "kvs/h264.h"

namespace camwire {
namespace h265 {

// nal_unit_type values (H.265 Table 7-1) the producer looks at.
enum NalType : uint8_t {
  kBlaWLp = 16,  // IRAP pictures: 16..23 (BLA, IDR, CRA and reserved IRAP)
  kIdrWRadl = 19,
  kIdrNLp = 20,
  kCraNut = 21,
  kIrapLast = 23,
  kVps = 32,
  kSps = 33,
  kPps = 34,
  kAud = 35,
  kEos = 36,
  kEob = 37,
  kFd = 38,
  kPrefixSei = 39,
  kSuffixSei = 40,
};

inline bool IsVcl(uint8_t type) { return type < 32; }
inline bool IsIrap(uint8_t type) { return type >= kBlaWLp && type <= kIrapLast; }

// Groups NAL units (split with Codec::kH265) into access units (7.4.2.4.4):
// a new one starts at an AUD, at a VPS/SPS/PPS/prefix SEI (or types 41-44,
// 48-55) after a picture's slices, or at a slice with
// first_slice_segment_in_pic_flag set after another slice. keyframe: the
// picture is an IRAP (IDR, CRA or BLA).
std::vector<h264::AccessUnit> GroupAccessUnits(const uint8_t* data, const std::vector<h264::NalUnit>& nals);

struct SpsInfo {
  uint8_t sps_id = 0;
  uint8_t max_sub_layers = 1;  // sps_max_sub_layers_minus1 + 1
  bool temporal_id_nesting = false;
  // profile_tier_level's general part, as hvcC carries it.
  uint8_t profile_space = 0;
  bool tier = false;
  uint8_t profile_idc = 0;
  uint32_t profile_compatibility = 0;
  uint64_t constraint_flags = 0;  // the 48 bits after the compatibility flags
  uint8_t level_idc = 0;
  uint8_t chroma_format_idc = 1;
  uint8_t bit_depth_luma = 8;
  uint8_t bit_depth_chroma = 8;
  uint32_t width = 0;         // after the conformance window
  uint32_t height = 0;        // after the conformance window
  uint32_t coded_width = 0;   // pic_width_in_luma_samples
  uint32_t coded_height = 0;  // pic_height_in_luma_samples
};

// Parses a sequence parameter set NAL unit (with its two-byte header) up to
// the bit depths; what follows them is not read. Errors: H265_MALFORMED_SPS.
Result<SpsInfo> ParseSps(const uint8_t* nal, size_t size);

// HEVCDecoderConfigurationRecord from one VPS, SPS and PPS, each with its
// NAL header: what Matroska's CodecPrivate holds for V_MPEGH/ISO/HEVC.
// lengthSizeMinusOne is 3 (4-byte lengths, as the AVCC form writes). Errors:
// H265_MALFORMED_VPS / _SPS / _PPS (wrong NAL type or header, over 65535 bytes).
Result<std::vector<uint8_t>> BuildHvcC(const uint8_t* vps, size_t vps_size, const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size);

}  // namespace h265
}  // namespace camwire
