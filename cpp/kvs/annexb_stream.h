// Access units out of an Annex-B H.264 byte stream that arrives in pieces of
// any size (a pipe from an encoder, a file read in chunks). A unit is handed
// out once the next one has begun, so a frame is never split; Finish() hands
// out the last one. Units that lie whole inside a piece are handed out from
// the piece itself (no copy); only the unit still being collected is kept
// (copied) between pieces, and the start of the next piece is added to it
// a little at a time (64 KiB, then twice as much each time) until the unit
// is complete. Memory stays at about one frame: one unit may not exceed
// max_unit_bytes (a stream with no start codes is an error, not an
// unbounded buffer).
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

  // first_step: how much of a piece is first added to a unit being collected (tests make it small).
  explicit AnnexBStream(size_t max_unit_bytes = 32u << 20, Codec codec = Codec::kH264, size_t first_step = 64u << 10)
      : max_unit_(max_unit_bytes), first_step_(first_step == 0 ? 1 : first_step), codec_(codec) {}

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
  // Hands out the complete units of d[0, n) (all of them when final) and
  // sets *keep to where the unit still being collected begins (n: none).
  Status Drain(const uint8_t* d, size_t n, bool final, const Sink& sink, size_t* keep);
  Status TooLarge(size_t n);
  size_t max_unit_;
  size_t first_step_;
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
