#include "kvs/aac.h"

#include <algorithm>

namespace camwire {
namespace aac {
namespace {

// The fields of an adts_fixed_header + adts_variable_header (ISO/IEC 14496-3
// 1.A.2.2), read without judging them:
//   syncword 12 | ID 1 | layer 2 | protection_absent 1 | profile 2 |
//   sampling_frequency_index 4 | private_bit 1 | channel_configuration 3 |
//   original_copy 1 | home 1 | copyright_identification_bit 1 |
//   copyright_identification_start 1 | aac_frame_length 13 |
//   adts_buffer_fullness 11 | number_of_raw_data_blocks_in_frame 2
struct Fields {
  bool sync = false;
  uint8_t layer = 0;
  bool protection_absent = true;
  uint8_t profile = 0;
  uint8_t sampling_index = 0;
  uint8_t channel_config = 0;
  size_t frame_length = 0;
  uint8_t raw_blocks = 0;  // number_of_raw_data_blocks_in_frame (frames - 1)
};

// d has at least 7 bytes.
Fields ReadFields(const uint8_t* d) {
  Fields f;
  f.sync = d[0] == 0xFF && (d[1] & 0xF0) == 0xF0;
  f.layer = static_cast<uint8_t>((d[1] >> 1) & 0x3);
  f.protection_absent = (d[1] & 0x1) != 0;
  f.profile = static_cast<uint8_t>(d[2] >> 6);
  f.sampling_index = static_cast<uint8_t>((d[2] >> 2) & 0xF);
  f.channel_config = static_cast<uint8_t>(((d[2] & 0x1) << 2) | (d[3] >> 6));
  f.frame_length = (static_cast<size_t>(d[3] & 0x3) << 11) | (static_cast<size_t>(d[4]) << 3) | (d[5] >> 5);
  f.raw_blocks = static_cast<uint8_t>(d[6] & 0x3);
  return f;
}

size_t HeaderSizeOf(const Fields& f) { return f.protection_absent ? kAdtsHeaderBytes : kAdtsCrcHeaderBytes; }

// What can be said of a header on its own: AAC_BAD_HEADER for what is not
// an ADTS header at all, AAC_UNSUPPORTED for what is one but cannot go in
// the track. The frame-structure checks come first: a candidate header whose
// length is sound can still be confirmed by the frame that follows it.
Status CheckStructure(const Fields& f) {
  if (!f.sync) return Status::Error("AAC_BAD_HEADER", "no ADTS sync word (0xFFF)");
  if (f.layer != 0) {
    return Status::Error("AAC_BAD_HEADER", "ADTS layer is " + std::to_string(f.layer) + ", must be 0 (a sync word with a layer is MPEG-1/2 audio: MP3?)");
  }
  const size_t hs = HeaderSizeOf(f);
  if (f.frame_length <= hs) {
    return Status::Error("AAC_BAD_HEADER",
                         "aac_frame_length " + std::to_string(f.frame_length) + " leaves no payload after the " + std::to_string(hs) + "-byte header");
  }
  return Status::Ok();
}

Status CheckSupported(const Fields& f) {
  if (SampleRateOf(f.sampling_index) == 0) {
    return Status::Error("AAC_UNSUPPORTED", "sampling_frequency_index " + std::to_string(f.sampling_index) + " is reserved (0..12 are defined)");
  }
  if (f.channel_config == 0) {
    return Status::Error("AAC_UNSUPPORTED",
                         "channel_configuration 0 (channels given by a program_config_element inside the payload) is not supported: encode with a standard "
                         "layout (1..7, e.g. -ac 1 or -ac 2)");
  }
  if (f.raw_blocks != 0) {
    return Status::Error("AAC_UNSUPPORTED",
                         "ADTS frame holds " + std::to_string(f.raw_blocks + 1) +
                             " raw data blocks; only one per frame is supported (number_of_raw_data_blocks_in_frame 0, what encoders write)");
  }
  return Status::Ok();
}

AdtsHeader ToHeader(const Fields& f) {
  AdtsHeader h;
  h.object_type = static_cast<uint8_t>(f.profile + 1);
  h.sampling_index = f.sampling_index;
  h.sample_rate = SampleRateOf(f.sampling_index);
  h.channel_config = f.channel_config;
  h.header_size = HeaderSizeOf(f);
  h.frame_size = f.frame_length;
  h.samples = 1024u * (f.raw_blocks + 1u);
  return h;
}

// The first 12 bits of a header with layer 0: FF Fx with x's layer bits clear.
bool LooksLikeSync(const uint8_t* d) { return d[0] == 0xFF && (d[1] & 0xF6) == 0xF0; }

const char* ObjectTypeName(uint8_t object_type) {
  switch (object_type) {
    case 1:
      return "AAC Main";
    case 2:
      return "AAC LC";
    case 3:
      return "AAC SSR";
    case 4:
      return "AAC LTP";
    default:
      return "AAC";
  }
}

std::string At(uint64_t offset) { return " at byte offset " + std::to_string(offset) + " of the stream"; }

Status WithOffset(const Status& s, uint64_t offset) { return Status::Error(s.code(), s.message() + At(offset)); }

void Put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}

void Put32(std::vector<uint8_t>& out, uint32_t v) {
  Put16(out, v & 0xFFFF);
  Put16(out, v >> 16);
}

// How much Feed copies into the carry-over buffer per step: leftover (less
// than one frame) plus this is the most the stream holds.
constexpr size_t kCopyStep = 8192;

}  // namespace

uint32_t SampleRateOf(uint8_t sampling_index) {
  static const uint32_t kRates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350};
  return sampling_index < 13 ? kRates[sampling_index] : 0;
}

Result<AdtsHeader> ParseAdtsHeader(const uint8_t* data, size_t size) {
  if (data == nullptr || size < kAdtsHeaderBytes) {
    return Status::Error("AAC_BAD_HEADER", "an ADTS header needs 7 bytes, have " + std::to_string(data == nullptr ? 0 : size));
  }
  const Fields f = ReadFields(data);
  Status s = CheckStructure(f);
  if (s.ok()) s = CheckSupported(f);
  if (!s.ok()) return s;
  return ToHeader(f);
}

std::vector<uint8_t> AudioSpecificConfig(const AdtsHeader& h) {
  // audioObjectType 5 | samplingFrequencyIndex 4 | channelConfiguration 4 |
  // frameLengthFlag 0 | dependsOnCoreCoder 0 | extensionFlag 0
  const uint16_t v = static_cast<uint16_t>(((h.object_type & 0x1F) << 11) | ((h.sampling_index & 0xF) << 7) | ((h.channel_config & 0xF) << 3));
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v & 0xFF)};
}

bool SameConfig(const AdtsHeader& a, const AdtsHeader& b) {
  return a.object_type == b.object_type && a.sampling_index == b.sampling_index && a.channel_config == b.channel_config;
}

std::string Describe(const AdtsHeader& h) {
  std::string s = ObjectTypeName(h.object_type);
  if (h.object_type < 1 || h.object_type > 4) s += " (object type " + std::to_string(h.object_type) + ")";
  s += ", " + std::to_string(h.sample_rate) + " Hz, ";
  s += std::to_string(h.channel_config) + (h.channel_config == 1 ? " channel" : " channels");
  return s;
}

Status AdtsStream::Fail(Status s) {
  failed_ = std::move(s);
  buf_.clear();
  buf_.shrink_to_fit();
  return failed_;
}

Status AdtsStream::Feed(const uint8_t* data, size_t size, const Sink& sink) {
  if (!failed_.ok()) return failed_;
  if (data == nullptr) size = 0;
  size_t off = 0;
  // Carry-over first: top it up a step at a time until what it held is used
  // (a frame that straddled two pieces). Copies stay bounded by kCopyStep.
  while (!buf_.empty() && off < size) {
    const size_t take = std::min(kCopyStep, size - off);
    buf_.insert(buf_.end(), data + off, data + off + take);
    off += take;
    size_t used = 0;
    Status s = Drain(buf_.data(), buf_.size(), false, sink, &used);
    if (!s.ok()) return s;
    pos_ += used;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(used));
  }
  if (off == size) return Status::Ok();
  // Nothing carried over: the piece is read in place, and only its tail
  // (less than one frame) is kept.
  size_t used = 0;
  Status s = Drain(data + off, size - off, false, sink, &used);
  if (!s.ok()) return s;
  pos_ += used;
  buf_.assign(data + off + used, data + size);
  return Status::Ok();
}

Status AdtsStream::Finish(const Sink& sink) {
  if (!failed_.ok()) return failed_;
  size_t used = 0;
  Status s = Drain(buf_.data(), buf_.size(), true, sink, &used);
  if (!s.ok()) return s;
  pos_ += used;
  buf_.clear();
  return Status::Ok();
}

Status AdtsStream::Drain(const uint8_t* d, size_t n, bool final, const Sink& sink, size_t* used) {
  size_t p = 0;
  *used = 0;
  if (!have_config_) {
    // Looking for the first frame. A candidate is a sync word with layer 0
    // whose header is structurally sound and whose frame is followed by the
    // next sync word (or by the end of the stream).
    std::string cut;  // a candidate the stream ended inside (final only)
    for (;;) {
      while (p + 1 < n && !LooksLikeSync(d + p)) ++p;
      const bool out_of_bytes = p + 1 >= n;
      // A last byte 0xFF may begin a sync word; any other cannot.
      if (out_of_bytes && p < n && d[p] != 0xFF) p = n;
      if (pos_ + p > kMaxLeadingGarbage) {
        return Fail(Status::Error("AAC_NO_SYNC", "no ADTS frame in the first " + std::to_string(kMaxLeadingGarbage) +
                                                     " bytes: is this ADTS? raw AAC needs ADTS headers (ffmpeg -f adts)"));
      }
      if (out_of_bytes) {
        if (!final) {
          *used = p;
          return Status::Ok();
        }
        if (pos_ + n == 0) return Status::Ok();  // an empty stream
        if (!cut.empty()) return Fail(Status::Error("AAC_TRUNCATED", cut));
        return Fail(
            Status::Error("AAC_NO_SYNC", "no ADTS frame in " + std::to_string(pos_ + n) + " bytes: is this ADTS? raw AAC needs ADTS headers (ffmpeg -f adts)"));
      }
      if (n - p < kAdtsHeaderBytes) {
        if (!final) {
          *used = p;
          return Status::Ok();
        }
        if (cut.empty()) {
          cut = "the stream ends inside its first ADTS header: " + std::to_string(n - p) + " of " + std::to_string(kAdtsHeaderBytes) + " bytes" + At(pos_ + p);
        }
        ++p;
        continue;
      }
      const Fields f = ReadFields(d + p);
      if (!CheckStructure(f).ok()) {
        ++p;
        continue;
      }
      // A stream that begins with a sound header is ADTS from its first
      // byte: no confirmation, so that damage right after the first frame
      // is reported like any other, not taken for leading junk.
      const bool at_start = pos_ + p == 0;
      const size_t end = p + f.frame_length;  // f.frame_length <= 8191
      const size_t after = end <= n ? n - end : 0;
      if (!at_start && (end > n || after < 2)) {
        if (!final) {
          // Wait for the frame and two bytes beyond it (at most 8193 bytes).
          *used = p;
          return Status::Ok();
        }
        if (end > n) {
          if (cut.empty() && CheckSupported(f).ok()) {
            cut = "the stream ends inside its first ADTS frame: " + std::to_string(n - p) + " of " + std::to_string(f.frame_length) + " bytes" + At(pos_ + p);
          }
          ++p;
          continue;
        }
      }
      // The next frame must begin where this one ends: its sync word, or as
      // much of it as the stream still has.
      const bool confirmed = at_start || (after >= 2 ? LooksLikeSync(d + end) : (after == 0 || d[end] == 0xFF));
      if (!confirmed) {
        ++p;
        continue;
      }
      Status s = CheckSupported(f);
      if (!s.ok()) return Fail(WithOffset(s, pos_ + p));
      have_config_ = true;
      config_ = ToHeader(f);
      skipped_ = pos_ + p;
      break;
    }
  }
  // Locked on: frame after frame, each directly after the last.
  for (;;) {
    const size_t left = n - p;
    if (left == 0) break;
    if (left < kAdtsHeaderBytes) {
      if (!final) break;
      return Fail(Status::Error("AAC_TRUNCATED", "the stream ends inside an ADTS header: " + std::to_string(left) + " of " + std::to_string(kAdtsHeaderBytes) +
                                                     " bytes" + At(pos_ + p)));
    }
    Result<AdtsHeader> hr = ParseAdtsHeader(d + p, left);
    if (!hr.ok()) {
      const Status& e = hr.status();
      std::string msg = e.message() + At(pos_ + p) + " (frame " + std::to_string(frames_) + ")";
      if (e.code() == "AAC_BAD_HEADER") msg += ": the stream is corrupt or not ADTS from here on";
      return Fail(Status::Error(e.code(), msg));
    }
    const AdtsHeader& h = hr.value();
    if (!SameConfig(h, config_)) {
      return Fail(Status::Error("AAC_CONFIG_CHANGED", "frame " + std::to_string(frames_) + At(pos_ + p) + " is " + Describe(h) + ", the stream began as " +
                                                          Describe(config_) + ": one track has one configuration"));
    }
    if (left < h.frame_size) {
      if (!final) break;
      return Fail(Status::Error("AAC_TRUNCATED", "the stream ends inside its last ADTS frame: " + std::to_string(left) + " of " + std::to_string(h.frame_size) +
                                                     " bytes" + At(pos_ + p)));
    }
    Status s = sink(d + p + h.header_size, h.frame_size - h.header_size, h);
    if (!s.ok()) return Fail(s);
    ++frames_;
    samples_ += h.samples;
    p += h.frame_size;
  }
  *used = p;
  return Status::Ok();
}

std::vector<uint8_t> G711WaveFormatEx(bool alaw, uint32_t sample_rate, uint16_t channels) {
  std::vector<uint8_t> w;
  w.reserve(18);
  Put16(w, alaw ? 6 : 7);            // wFormatTag: WAVE_FORMAT_ALAW / WAVE_FORMAT_MULAW
  Put16(w, channels);                // nChannels
  Put32(w, sample_rate);             // nSamplesPerSec
  Put32(w, sample_rate * channels);  // nAvgBytesPerSec: one byte per sample
  Put16(w, channels);                // nBlockAlign
  Put16(w, 8);                       // wBitsPerSample
  Put16(w, 0);                       // cbSize
  return w;
}

}  // namespace aac
}  // namespace camwire
