// Access units out of an Annex-B H.264 byte stream that arrives in pieces of
// any size (a pipe from an encoder, a file read in chunks). A unit is handed
// out once the next one has begun, so a frame is never split; Finish() hands
// out the last one. Memory stays at about one frame plus one piece: bytes are
// kept only from the start of the unit still being collected, and one unit
// may not exceed max_unit_bytes (a stream with no start codes is an error,
// not an unbounded buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "kvs/h264.h"

namespace camwire {
namespace h264 {

class AnnexBStream {
 public:
  // Called with the buffer the unit's NAL offsets refer to; valid during the call.
  using Sink = std::function<Status(const uint8_t* data, const AccessUnit& au)>;

  explicit AnnexBStream(size_t max_unit_bytes = 32u << 20, Codec codec = Codec::kH264) : max_unit_(max_unit_bytes), codec_(codec) {}

  // The codec is found from the first parameter sets (kvs::DetectCodec)
  // instead of given: nothing is handed out until it is known (H.264 when a
  // megabyte or the end of the stream has not told).
  void AutoDetect() { detect_ = true; }

  Status Feed(const uint8_t* data, size_t size, const Sink& sink);
  Status Finish(const Sink& sink);

  // The first VPS (H.265), SPS and PPS seen (with their NAL headers), for the track.
  const std::vector<uint8_t>& vps() const { return vps_; }
  const std::vector<uint8_t>& sps() const { return sps_; }
  const std::vector<uint8_t>& pps() const { return pps_; }
  Codec codec() const { return codec_; }

 private:
  Status Drain(bool final, const Sink& sink);
  size_t max_unit_;
  Codec codec_;
  bool detect_ = false;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> vps_;
  std::vector<uint8_t> sps_;
  std::vector<uint8_t> pps_;
};

// True when the buffer begins with an Annex-B start code (00 00 01 or 00 00 00 01).
bool StartsWithStartCode(const uint8_t* data, size_t size);

// Whether an access unit holds a picture (a slice), not parameter sets alone.
bool HasSlice(const AccessUnit& au);

// One frame given whole (putFrame): its NAL units as one access unit, with
// the key-frame flag from its slices.
AccessUnit WholeAccessUnit(const uint8_t* data, size_t size, Codec codec = Codec::kH264);

}  // namespace h264
}  // namespace camwire
