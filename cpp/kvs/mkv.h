// The Matroska stream KVS PutMedia takes: one EBML header, one Segment of
// unknown size with Info (1 ms timecodes) and Tracks, then one unknown-size
// Cluster per fragment, each starting on a key frame, holding SimpleBlocks
// with cluster-relative timecodes; fragment metadata as Tags before the
// cluster it describes. Every new connection starts again with a header.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kvs/h264.h"

namespace camwire {
namespace mkv {

struct VideoTrack {
  std::string codec_id = "V_MPEG4/ISO/AVC";
  std::string name = "kvs_video_track";
  uint64_t track_uid = 1;
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> codec_private;  // avcC
};

// Track 2: audio (A_AAC with its AudioSpecificConfig, or A_MS/ACM G.711 with a WAVEFORMATEX).
struct AudioTrack {
  std::string codec_id = "A_AAC";
  std::string name = "kvs_audio_track";
  uint64_t track_uid = 2;
  uint32_t sample_rate = 0;
  uint32_t channels = 0;
  std::vector<uint8_t> codec_private;
};

// EBML header + Segment (unknown size) + Info + Tracks (video, and audio when given).
std::vector<uint8_t> StreamHeader(const VideoTrack& track, const std::array<uint8_t, 16>& segment_uid, const std::string& writing_app,
                                  const AudioTrack* audio = nullptr);

// Tags with SimpleTag name/value pairs (KVS: at most 10, names <= 128 bytes,
// values <= 256 bytes, no names starting with "AWS" unless KVS-defined).
Result<std::vector<uint8_t>> FragmentTags(const std::vector<std::pair<std::string, std::string>>& tags);

// Cluster (unknown size) with its Timecode (ms) and Position 0.
std::vector<uint8_t> ClusterStart(uint64_t timecode_ms);

// A SimpleBlock for track 1: timecode relative to the cluster (0..32767 ms).
Status AppendSimpleBlock(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, int64_t relative_ms, bool keyframe);

// Packs frames into fragments: a new cluster on a key frame once the
// fragment duration has passed (or on every key frame when it is 0).
// Timestamps must increase strictly.
class Fragmenter {
 public:
  Fragmenter(uint64_t fragment_duration_ms, bool absolute_timecodes) : fragment_ms_(fragment_duration_ms), absolute_(absolute_timecodes) {}

  // Appends the frame's bytes (a cluster start first when one begins) to out.
  // `started_fragment` tells whether this frame opened a new cluster.
  Status Add(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, uint64_t pts_ms, bool keyframe, bool* started_fragment);
  // The same for a frame given as an access unit of an Annex-B buffer: the
  // AVCC form is written straight into out, with no intermediate copy.
  Status AddAccessUnit(std::vector<uint8_t>& out, const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms, bool* started_fragment);
  // The same, but the NAL payloads are not copied: out gets the headers and
  // lengths, and `gather` where each payload goes (after out's first `at`
  // bytes), for a writev straight from the input.
  struct Gather {
    struct Piece {
      size_t at;
      const uint8_t* data;
      size_t size;
    };
    std::vector<Piece> pieces;
    size_t bytes = 0;  // payload bytes in pieces
  };
  Status AddAccessUnit(std::vector<uint8_t>& out, const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms, bool* started_fragment, Gather* gather);

  uint64_t frames() const { return frames_; }

  // An audio frame (track 2) into the open cluster, relative to its start
  // (0..32767 ms). Audio never opens a cluster: fragments start at video key
  // frames. *taken is false (and nothing written) when no cluster is open
  // yet or the frame lies before the open cluster: the caller interleaves by
  // time, so that is audio from before the first video frame.
  Status AddAudio(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, uint64_t pts_ms, bool* taken);
  uint64_t audio_frames() const { return audio_frames_; }

 private:
  // Checks timestamps, opens a cluster when due; returns the block's relative timecode.
  Result<int64_t> Prepare(std::vector<uint8_t>& out, uint64_t pts_ms, bool keyframe, bool* started_fragment);
  void Commit(uint64_t pts_ms);

 public:
  uint64_t fragments() const { return fragments_; }

 private:
  uint64_t fragment_ms_;
  bool absolute_;
  bool have_last_ = false;
  uint64_t last_pts_ = 0;
  bool in_cluster_ = false;
  uint64_t cluster_pts_ = 0;
  uint64_t stream_start_ = 0;
  uint64_t frames_ = 0;
  uint64_t fragments_ = 0;
  bool have_audio_ = false;
  uint64_t last_audio_pts_ = 0;
  uint64_t audio_frames_ = 0;
};

struct PackageOptions {
  double fps = 30;
  uint64_t fragment_duration_ms = 2000;
  bool absolute_timecodes = false;
  uint64_t start_ms = 0;  // pts of the first frame
  std::array<uint8_t, 16> segment_uid{};
  bool detect_codec = true;                // find H.264 or H.265 from the parameter sets
  h264::Codec codec = h264::Codec::kH264;  // when not detected
  // An audio track: ADTS AAC (headers stripped, AudioSpecificConfig from the
  // first), or raw G.711 bytes (20 ms frames). Timestamps from the sample
  // count, starting with the video at start_ms.
  enum class Audio { kNone, kAdts, kAlaw, kMulaw } audio = Audio::kNone;
  const uint8_t* audio_data = nullptr;
  size_t audio_size = 0;
  uint32_t audio_rate = 8000;  // G.711 only (ADTS says its own)
  uint32_t audio_channels = 1;
  // With a sink, the MKV goes out in pieces of about sink_chunk bytes as it
  // is made (PackageResult::mkv stays empty): a file of any size is packaged
  // in a few MiB of memory. Each piece is a list of spans (headers made here,
  // frame payloads pointing into the input: nothing is copied), valid only
  // during the call. A sink error stops the packaging and is returned.
  struct Span {
    const uint8_t* data;
    size_t size;
  };
  std::function<Status(const std::vector<Span>&)> sink;
  size_t sink_chunk = 4 << 20;
  // The input is split and packaged this many bytes at a time (tests make it small).
  size_t window = 4 << 20;
};

struct PackageResult {
  std::vector<uint8_t> mkv;
  uint64_t bytes = 0;  // the MKV's size (also when it went to a sink)
  uint64_t frames = 0;
  uint64_t fragments = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  h264::Codec codec = h264::Codec::kH264;
  uint64_t audio_frames = 0;
  uint64_t audio_ms = 0;  // duration of the audio packaged
  uint32_t audio_rate = 0;
  uint32_t audio_channels = 0;
};

// A whole Annex-B H.264 or H.265 elementary stream to one MKV (the offline sink of
// `camwire kvs stream --out`, and what the producer sends on one connection).
Result<PackageResult> PackageAnnexB(const uint8_t* data, size_t size, const PackageOptions& options);

}  // namespace mkv
}  // namespace camwire
