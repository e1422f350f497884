// An incremental reader of the MKV stream a PutMedia body carries, for the
// local PutMedia endpoint and for checking what the producer sends. It takes
// bytes in any chunking and reports the stream's structure: a stream header
// (EBML + Segment + Tracks), each cluster (fragment) with its timecode, each
// SimpleBlock (timecode, key frame, size), and tags. Sizes and ids from the
// peer are checked against limits before anything is buffered: a hostile or
// corrupt stream is an error, not an allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace mkv {

struct ReaderEvent {
  enum Kind { kStreamHeader, kCluster, kFrame, kTag };
  explicit ReaderEvent(Kind k) : kind(k) {}
  Kind kind;
  // kStreamHeader
  uint32_t width = 0, height = 0;
  std::string codec_id;
  size_t codec_private_size = 0;
  uint64_t timecode_scale_ns = 0;
  // kCluster: absolute cluster timecode (ms); kFrame: cluster timecode + relative
  uint64_t timecode = 0;
  // kFrame
  bool keyframe = false;
  uint64_t track = 0;
  size_t frame_size = 0;
  // kTag
  std::string tag_name, tag_value;
};

class StreamReader {
 public:
  // Largest element the reader buffers whole (Info, Tracks, Tags, one block).
  static constexpr uint64_t kMaxBufferedElement = 64ull << 20;

  // Consumes bytes and appends the events they complete. After an error the
  // reader stays failed.
  Status Feed(const uint8_t* data, size_t size, std::vector<ReaderEvent>& out);

  uint64_t bytes() const { return consumed_; }

 private:
  Status Element(uint32_t id, const uint8_t* body, size_t size, std::vector<ReaderEvent>& out);
  Status ParseTracks(const uint8_t* p, size_t n, ReaderEvent& header);

  std::vector<uint8_t> buf_;
  uint64_t consumed_ = 0;
  bool in_cluster_ = false;
  bool have_header_ = false;
  bool have_segment_ = false;
  uint64_t cluster_timecode_ = 0;
  ReaderEvent header_{ReaderEvent::kStreamHeader};
  Status failed_;
};

// Reads an element id (1-4 bytes) and a size vint at p; returns the header
// length, 0 when more bytes are needed, or an error. size is UINT64_MAX for
// "unknown".
Result<size_t> ReadElementHeader(const uint8_t* p, size_t n, uint32_t* id, uint64_t* size);

}  // namespace mkv
}  // namespace camwire
