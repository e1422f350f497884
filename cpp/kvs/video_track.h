// The video track of a stream, whichever NAL-unit codec it is: which codec an
// Annex-B stream holds (from its parameter sets), the parameter sets collected
// from access units until the track can be described, and the Matroska track
// entry made from them (V_MPEG4/ISO/AVC with avcC, V_MPEGH/ISO/HEVC with hvcC).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kvs/h264.h"
#include "kvs/mkv.h"

namespace camwire {
namespace kvs {

// What the caller asked for: a codec, or detection from the bitstream.
enum class CodecChoice { kAuto, kH264, kH265 };

// "h264" / "h265".
const char* CodecName(h264::Codec codec);

// Looks at the NAL headers of an Annex-B buffer: H.264 SPS/AUD/IDR, or H.265
// VPS/SPS/PPS/AUD (base layer). false while no unit decides (give it more bytes).
bool DetectCodec(const uint8_t* data, size_t size, h264::Codec* codec);

// The first VPS (H.265), SPS and PPS seen, with their NAL headers.
struct ParameterSets {
  std::vector<uint8_t> vps, sps, pps;
  // Records the access unit's parameter sets that are still missing.
  void Collect(const uint8_t* data, const h264::AccessUnit& au);
  bool Complete(h264::Codec codec) const { return !sps.empty() && !pps.empty() && (codec != h264::Codec::kH265 || !vps.empty()); }
};

// The track entry for these parameter sets; codec_private, when given,
// replaces the record built from them (the caller's own avcC/hvcC).
Result<mkv::VideoTrack> MakeVideoTrack(h264::Codec codec, const ParameterSets& ps, const std::vector<uint8_t>& codec_private);

}  // namespace kvs
}  // namespace camwire
