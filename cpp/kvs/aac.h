// Audio for the KVS producer's second track. AAC arrives as an ADTS stream
// (ISO/IEC 13818-7 / 14496-3 1.A.2: a 7-byte header, 9 with a CRC, before
// each frame) in pieces of any size; Matroska's A_AAC track wants the raw
// frames without those headers and the 2-byte AudioSpecificConfig as
// CodecPrivate. The official KVS producers leave the stripping to the user;
// AdtsStream does it. G.711 (A_MS/ACM) needs only its WAVEFORMATEX.
//
// Error codes: AAC_NO_SYNC, AAC_BAD_HEADER, AAC_UNSUPPORTED,
// AAC_CONFIG_CHANGED, AAC_TRUNCATED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace aac {

// A frame is at most 2^13 - 1 bytes (aac_frame_length has 13 bits).
constexpr size_t kMaxFrameBytes = 8191;
constexpr size_t kAdtsHeaderBytes = 7;     // protection_absent = 1
constexpr size_t kAdtsCrcHeaderBytes = 9;  // protection_absent = 0: crc_check follows

struct AdtsHeader {
  uint8_t object_type = 0;     // MPEG-4 Audio Object Type = ADTS profile + 1 (2 = AAC LC)
  uint8_t sampling_index = 0;  // sampling_frequency_index, 0..12
  uint32_t sample_rate = 0;    // Hz, from the index
  uint8_t channel_config = 0;  // channel_configuration, 1..7 (0, a PCE in the payload, is refused)
  size_t header_size = 0;      // 7, or 9 with a CRC (protection_absent = 0)
  size_t frame_size = 0;       // aac_frame_length: header + payload
  uint32_t samples = 1024;     // PCM samples per channel in this frame (one raw data block)
};

// The sample rate of a sampling_frequency_index (0 for the reserved 13..15).
uint32_t SampleRateOf(uint8_t sampling_index);

// Parses the ADTS header at data. Needs 7 bytes; checks the sync word 0xFFF
// and layer 0 (AAC_BAD_HEADER), that aac_frame_length leaves room for a
// payload after the header (AAC_BAD_HEADER), and refuses what the track
// cannot carry: reserved sampling indexes, channel_configuration 0 and more
// than one raw data block per frame (AAC_UNSUPPORTED). The CRC, when present,
// is not verified (a corrupt frame is the decoder's to conceal, as with video).
Result<AdtsHeader> ParseAdtsHeader(const uint8_t* data, size_t size);

// The 2-byte AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1, with a
// GASpecificConfig of zero flags) for that header: the CodecPrivate of a
// Matroska A_AAC track. AAC LC, 48 kHz, mono is 11 88.
std::vector<uint8_t> AudioSpecificConfig(const AdtsHeader& h);

// Same object type, sample rate and channels: what a decoder configured from
// the first header can go on with.
bool SameConfig(const AdtsHeader& a, const AdtsHeader& b);

// "AAC LC, 48000 Hz, 1 channel", for messages and logs.
std::string Describe(const AdtsHeader& h);

// Raw AAC frames out of an ADTS byte stream that arrives in pieces of any
// size. Memory stays at about one frame (at most 8191 bytes by the format)
// plus a bounded copy window, whatever the piece size.
//
// A stream that begins with a sound header is taken as ADTS from byte 0.
// Otherwise up to kMaxLeadingGarbage bytes are skipped before the first
// frame, and a candidate first header counts only when the next frame's sync
// word follows it (or the stream ends there), so a 0xFFF inside junk or
// inside a frame the stream was cut into does not lock on. From the first frame on, every
// frame must follow its predecessor directly: a bad header is an error with
// its byte offset, never a silent resync. After an error the stream stays
// failed and returns the same status.
class AdtsStream {
 public:
  static constexpr size_t kMaxLeadingGarbage = 64 * 1024;

  // Gets each frame's raw AAC payload (no ADTS header, no CRC), valid during
  // the call. A sink error fails the stream with that status.
  using Sink = std::function<Status(const uint8_t* payload, size_t size, const AdtsHeader& h)>;

  Status Feed(const uint8_t* data, size_t size, const Sink& sink);
  // The end of the stream: a frame left partial is AAC_TRUNCATED; a stream of
  // bytes with no frame at all is AAC_NO_SYNC (an empty stream is fine).
  Status Finish(const Sink& sink);

  // The first frame's header: the track's configuration.
  bool have_config() const { return have_config_; }
  const AdtsHeader& config() const { return config_; }
  // Frames and samples (per channel) the sink has taken so far.
  uint64_t frames() const { return frames_; }
  uint64_t samples() const { return samples_; }
  // Bytes skipped before the first frame.
  uint64_t skipped() const { return skipped_; }
  // Bytes held between calls (at most about one frame).
  size_t buffered() const { return buf_.size(); }

 private:
  // Handles d[0, n) (stream offset pos_ onwards); sets *used to the bytes
  // finished with. With final, the stream ends at n.
  Status Drain(const uint8_t* d, size_t n, bool final, const Sink& sink, size_t* used);
  Status Fail(Status s);

  std::vector<uint8_t> buf_;
  uint64_t pos_ = 0;  // stream offset of the next byte Drain sees
  Status failed_;
  bool have_config_ = false;
  AdtsHeader config_;
  uint64_t frames_ = 0;
  uint64_t samples_ = 0;
  uint64_t skipped_ = 0;
};

// G.711 in Matroska (A_MS/ACM, as the KVS producers write it): the 18-byte
// little-endian WAVEFORMATEX with wFormatTag 6 (A-law) or 7 (mu-law),
// nChannels, nSamplesPerSec, nAvgBytesPerSec = rate * channels,
// nBlockAlign = channels, wBitsPerSample 8, cbSize 0.
std::vector<uint8_t> G711WaveFormatEx(bool alaw, uint32_t sample_rate, uint16_t channels);

}  // namespace aac
}  // namespace camwire
