// H.264 Annex-B parsing for the KVS producer: NAL unit splitting (3- and
// 4-byte start codes), access-unit grouping, SPS parsing (width, height,
// profile, level), the avcC CodecPrivate, and conversion of a frame to the
// 4-byte-length AVCC form Matroska stores. Every read is bounds-checked; a
// malformed SPS is an error result, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace h264 {

// The two NAL-unit video codecs KVS takes in Annex-B form. The splitting,
// access-unit and AVCC code below serves both; NalUnit::type is the codec's
// own nal_unit_type (H.264: low 5 bits of the one-byte header; H.265: bits
// 1-6 of the two-byte header). H.265 specifics live in kvs/h265.h.
enum class Codec : uint8_t { kH264, kH265 };

enum NalType : uint8_t {
  kNonIdrSlice = 1,
  kIdrSlice = 5,
  kSei = 6,
  kSps = 7,
  kPps = 8,
  kAud = 9,
};

struct NalUnit {
  size_t offset = 0;  // of the first byte after the start code
  size_t size = 0;    // without the start code and trailing zero bytes
  uint8_t type = 0;   // nal_unit_type of the codec (see Codec)
};

// nal_unit_type from a unit's first header byte.
inline uint8_t NalTypeOf(Codec codec, uint8_t header) { return codec == Codec::kH265 ? static_cast<uint8_t>((header >> 1) & 0x3f) : header & 0x1f; }
// Access unit delimiters (dropped from AVCC), picture-carrying units, random-access pictures.
bool IsAud(Codec codec, uint8_t type);
bool IsSlice(Codec codec, uint8_t type);
bool IsKeyframeNal(Codec codec, uint8_t type);

// Splits an Annex-B buffer into NAL units. Bytes before the first start code
// are ignored; zero bytes that precede the next start code (trailing_zero_8bits)
// are not part of a unit.
std::vector<NalUnit> SplitAnnexB(const uint8_t* data, size_t size, Codec codec = Codec::kH264);

// The NAL units of an Annex-B buffer, found window by window: a caller can
// stop at the first units it needs, or work on each part of a big buffer
// while it is still in cache. Next(window, out) scans the next `window`
// bytes and appends the units that ended in them; it returns false once the
// buffer's end is reached (the last unit appended then). The units are
// SplitAnnexB's, in the same order, whatever the windows.
class AnnexBScanner {
 public:
  AnnexBScanner(const uint8_t* data, size_t size, Codec codec = Codec::kH264) : data_(data), size_(size), codec_(codec) {}
  bool Next(size_t window, std::vector<NalUnit>* out);
  // Bytes scanned so far.
  size_t position() const { return next_ < size_ ? next_ : size_; }

 private:
  void Finish(size_t end, std::vector<NalUnit>* out);
  const uint8_t* data_;
  size_t size_;
  Codec codec_;
  size_t next_ = 2;          // the next byte that may end a start code (00 00 01)
  size_t start_ = SIZE_MAX;  // first byte of the unit in progress
  bool done_ = false;
};

// Removes emulation prevention bytes (00 00 03 -> 00 00) from a NAL payload.
std::vector<uint8_t> Unescape(const uint8_t* data, size_t size);

struct SpsInfo {
  uint8_t profile_idc = 0;
  uint8_t constraint_flags = 0;
  uint8_t level_idc = 0;
  uint32_t sps_id = 0;
  uint32_t chroma_format_idc = 1;
  uint32_t width = 0;   // after cropping
  uint32_t height = 0;  // after cropping
  bool frame_mbs_only = true;
};

// Parses a sequence parameter set NAL unit (with its one-byte header).
Result<SpsInfo> ParseSps(const uint8_t* nal, size_t size);

// AVCDecoderConfigurationRecord (ISO/IEC 14496-15) from one SPS and one PPS,
// both with their NAL headers: what Matroska's CodecPrivate holds for
// V_MPEG4/ISO/AVC.
Result<std::vector<uint8_t>> BuildAvcC(const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size);

// One access unit (a frame): its NAL units in stream order.
struct AccessUnit {
  std::vector<NalUnit> nals;
  bool keyframe = false;  // contains an IDR slice (H.265: an IRAP picture)
  Codec codec = Codec::kH264;
};

// Groups NAL units into access units: a new one starts at an AUD, at an
// SPS/PPS/SEI after a slice, or at a slice whose first_mb_in_slice is 0 after
// another slice (H.264 7.4.1.2.3, the cases encoders produce).
// H.265 units are grouped by h265::GroupAccessUnits (the same rules in HEVC's terms).
std::vector<AccessUnit> GroupAccessUnits(const uint8_t* data, const std::vector<NalUnit>& nals, Codec codec = Codec::kH264);

// The AVCC form of an access unit: each NAL as a 4-byte big-endian length
// followed by the unit. AUDs are dropped, as Matroska muxers do.
std::vector<uint8_t> ToAvcc(const uint8_t* data, const AccessUnit& au);
// The same, appended to out; AvccSize() is the number of bytes it appends.
void AppendAvcc(std::vector<uint8_t>& out, const uint8_t* data, const AccessUnit& au);
size_t AvccSize(const AccessUnit& au);

}  // namespace h264
}  // namespace camwire
