#include "kvs/mkv.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <thread>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "common/bytes.h"

#include "kvs/aac.h"
#include "kvs/annexb_stream.h"
#include "kvs/ebml.h"
#include "kvs/h264.h"
#include "kvs/video_track.h"

namespace camwire {
namespace mkv {

namespace id {
constexpr uint32_t kEbml = 0x1A45DFA3, kEbmlVersion = 0x4286, kEbmlReadVersion = 0x42F7, kEbmlMaxIdLength = 0x42F2, kEbmlMaxSizeLength = 0x42F3,
                   kDocType = 0x4282, kDocTypeVersion = 0x4287, kDocTypeReadVersion = 0x4285;
constexpr uint32_t kSegment = 0x18538067, kInfo = 0x1549A966, kSegmentUid = 0x73A4, kTimecodeScale = 0x2AD7B1, kMuxingApp = 0x4D80, kWritingApp = 0x5741;
constexpr uint32_t kTracks = 0x1654AE6B, kTrackEntry = 0xAE, kTrackNumber = 0xD7, kTrackUid = 0x73C5, kTrackType = 0x83, kName = 0x536E, kCodecId = 0x86,
                   kCodecPrivate = 0x63A2, kVideo = 0xE0, kPixelWidth = 0xB0, kPixelHeight = 0xBA, kAudio = 0xE1, kSamplingFrequency = 0xB5, kChannels = 0x9F;
constexpr uint32_t kCluster = 0x1F43B675, kTimecode = 0xE7, kPosition = 0xA7, kSimpleBlock = 0xA3;
constexpr uint32_t kTags = 0x1254C367, kTag = 0x7373, kSimpleTag = 0x67C8, kTagName = 0x45A3, kTagString = 0x4487;
}  // namespace id

namespace {
// Faults in a large buffer that is about to be written front to back once
// (the whole MKV in memory) from a second thread, a few MiB ahead of the
// packager: first touches of fresh memory (a page fault and the kernel's
// zeroing per 4 KiB) were half of the in-memory packaging time, and they
// happen on the other core now. MADV_POPULATE_WRITE (Linux 5.14) only maps
// pages, it never changes what is in one; without it nothing is done. So
// even if the MKV outgrows its reserve (the vector moves) while the thread
// runs, it only maps memory that is freed or reused; once a range is
// unmapped, madvise fails and the thread stops. On one core the two take
// turns: the same page faults, no more.
class Prefault {
 public:
  Prefault(uint8_t* data, size_t size) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    const uintptr_t kPage = 4096;
    const uintptr_t kStep = 4 << 20;
    if (size < 4 * kStep) return;
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kPage - 1) & ~(kPage - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) & ~(kPage - 1);
    thread_ = std::thread([this, begin, end, kStep] {
      for (uintptr_t at = begin; at < end && !stop_.load(std::memory_order_relaxed); at += kStep) {
        if (madvise(reinterpret_cast<void*>(at), std::min<uintptr_t>(kStep, end - at), MADV_POPULATE_WRITE) != 0) return;
      }
    });
#else
    (void)data;
    (void)size;
#endif
  }
  ~Prefault() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};
}  // namespace

std::vector<uint8_t> StreamHeader(const VideoTrack& track, const std::array<uint8_t, 16>& segment_uid, const std::string& writing_app,
                                  const AudioTrack* audio) {
  std::vector<uint8_t> out;
  ebml::Writer w(out);
  size_t h = w.Begin(id::kEbml, 1);
  w.UInt(id::kEbmlVersion, 1);
  w.UInt(id::kEbmlReadVersion, 1);
  w.UInt(id::kEbmlMaxIdLength, 4);
  w.UInt(id::kEbmlMaxSizeLength, 8);
  w.String(id::kDocType, "matroska");
  w.UInt(id::kDocTypeVersion, 2);
  w.UInt(id::kDocTypeReadVersion, 2);
  w.End(h);
  w.BeginUnknown(id::kSegment, 1);
  size_t info = w.Begin(id::kInfo, 2);
  w.Binary(id::kSegmentUid, segment_uid.data(), segment_uid.size());
  w.UInt(id::kTimecodeScale, 1000000, 8);
  w.String(id::kMuxingApp, writing_app);
  w.String(id::kWritingApp, writing_app);
  w.End(info);
  size_t tracks = w.Begin(id::kTracks, 4);
  size_t entry = w.Begin(id::kTrackEntry, 4);
  w.UInt(id::kTrackNumber, 1);
  w.UInt(id::kTrackUid, track.track_uid, 8);
  w.UInt(id::kTrackType, 1);
  w.String(id::kName, track.name);
  w.String(id::kCodecId, track.codec_id);
  if (track.width && track.height) {
    size_t video = w.Begin(id::kVideo, 4);
    w.UInt(id::kPixelWidth, track.width, 2);
    w.UInt(id::kPixelHeight, track.height, 2);
    w.End(video);
  }
  if (!track.codec_private.empty()) w.Binary(id::kCodecPrivate, track.codec_private.data(), track.codec_private.size());
  w.End(entry);
  if (audio) {
    size_t a = w.Begin(id::kTrackEntry, 4);
    w.UInt(id::kTrackNumber, 2);
    w.UInt(id::kTrackUid, audio->track_uid, 8);
    w.UInt(id::kTrackType, 2);
    w.String(id::kName, audio->name);
    w.String(id::kCodecId, audio->codec_id);
    if (!audio->codec_private.empty()) w.Binary(id::kCodecPrivate, audio->codec_private.data(), audio->codec_private.size());
    size_t settings = w.Begin(id::kAudio, 4);
    w.Float(id::kSamplingFrequency, audio->sample_rate);
    w.UInt(id::kChannels, audio->channels);
    w.End(settings);
    w.End(a);
  }
  w.End(tracks);
  return out;
}

Result<std::vector<uint8_t>> FragmentTags(const std::vector<std::pair<std::string, std::string>>& tags) {
  if (tags.size() > 10) return Status::Error("KVS_BAD_METADATA", "at most 10 metadata items per fragment");
  std::vector<uint8_t> out;
  ebml::Writer w(out);
  size_t all = w.Begin(id::kTags, 8);
  for (const auto& t : tags) {
    if (t.first.empty() || t.first.size() > 128) return Status::Error("KVS_BAD_METADATA", "metadata names are 1-128 bytes");
    if (t.second.size() > 256) return Status::Error("KVS_BAD_METADATA", "metadata values are at most 256 bytes");
    if (t.first.compare(0, 3, "AWS") == 0 && t.first != "AWS_KINESISVIDEO_END_OF_FRAGMENT") {
      return Status::Error("KVS_BAD_METADATA", "metadata names starting with AWS are reserved: " + t.first);
    }
    size_t tag = w.Begin(id::kTag, 8);
    size_t simple = w.Begin(id::kSimpleTag, 8);
    w.String(id::kTagName, t.first);
    w.String(id::kTagString, t.second);
    w.End(simple);
    w.End(tag);
  }
  w.End(all);
  return out;
}

std::vector<uint8_t> ClusterStart(uint64_t timecode_ms) {
  std::vector<uint8_t> out;
  ebml::Writer w(out);
  w.BeginUnknown(id::kCluster, 1);
  w.UInt(id::kTimecode, timecode_ms, 8);
  w.UInt(id::kPosition, 0);
  return out;
}

Status AppendSimpleBlock(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, int64_t relative_ms, bool keyframe) {
  if (relative_ms < 0 || relative_ms > 32767) {
    return Status::Error("KVS_TIMECODE_RANGE",
                         "a frame is " + std::to_string(relative_ms) + " ms from its cluster start; SimpleBlock timecodes span 0-32767 ms");
  }
  ebml::AppendId(out, id::kSimpleBlock);
  ebml::AppendVint(out, size + 4, 8);
  out.push_back(0x81);
  AppendBe16(out, static_cast<uint16_t>(relative_ms));
  out.push_back(keyframe ? 0x80 : 0x00);
  out.insert(out.end(), frame, frame + size);
  return Status::Ok();
}

Result<int64_t> Fragmenter::Prepare(std::vector<uint8_t>& out, uint64_t pts_ms, bool keyframe, bool* started_fragment) {
  *started_fragment = false;
  if (have_last_ && pts_ms <= last_pts_) {
    return Status::Error("KVS_TIMESTAMP_NOT_INCREASING",
                         "frame timestamp " + std::to_string(pts_ms) + " ms is not after the previous one (" + std::to_string(last_pts_) + " ms)");
  }
  if (!in_cluster_ && !keyframe) {
    return Status::Error("KVS_NEEDS_KEYFRAME", "a stream (and every fragment) must start with a key frame");
  }
  if (!have_last_) stream_start_ = pts_ms;
  const bool new_cluster = !in_cluster_ || (keyframe && (fragment_ms_ == 0 || pts_ms - cluster_pts_ >= fragment_ms_)) || (pts_ms - cluster_pts_ > 32767);
  if (new_cluster) {
    if (!keyframe) {
      return Status::Error("KVS_FRAGMENT_TOO_LONG", "no key frame for 32.7 s: a fragment cannot hold more; send key frames more often");
    }
    const uint64_t tc = absolute_ ? pts_ms : pts_ms - stream_start_;
    std::vector<uint8_t> c = ClusterStart(tc);
    out.insert(out.end(), c.begin(), c.end());
    cluster_pts_ = pts_ms;
    in_cluster_ = true;
    ++fragments_;
    *started_fragment = true;
  }
  return static_cast<int64_t>(pts_ms - cluster_pts_);
}

void Fragmenter::Commit(uint64_t pts_ms) {
  have_last_ = true;
  last_pts_ = pts_ms;
  ++frames_;
}

namespace {
void AppendBlockHeader(std::vector<uint8_t>& out, size_t payload, int64_t relative_ms, bool keyframe, uint8_t track = 1) {
  ebml::AppendId(out, id::kSimpleBlock);
  ebml::AppendVint(out, payload + 4, 8);              // 8-byte size, as the KVS producer writes
  out.push_back(static_cast<uint8_t>(0x80 | track));  // the track number as a 1-byte vint
  AppendBe16(out, static_cast<uint16_t>(relative_ms));
  out.push_back(keyframe ? 0x80 : 0x00);
}
}  // namespace

Status Fragmenter::Add(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, uint64_t pts_ms, bool keyframe, bool* started_fragment) {
  Result<int64_t> rel = Prepare(out, pts_ms, keyframe, started_fragment);
  if (!rel.ok()) return rel.status();
  Status s = AppendSimpleBlock(out, frame, size, rel.value(), keyframe);
  if (!s.ok()) return s;
  Commit(pts_ms);
  return Status::Ok();
}

Status Fragmenter::AddAudio(std::vector<uint8_t>& out, const uint8_t* frame, size_t size, uint64_t pts_ms, bool* taken) {
  *taken = false;
  if (have_audio_ && pts_ms <= last_audio_pts_) {
    return Status::Error("KVS_TIMESTAMP_NOT_INCREASING",
                         "audio timestamp " + std::to_string(pts_ms) + " ms is not after the previous one (" + std::to_string(last_audio_pts_) + " ms)");
  }
  if (!in_cluster_ || pts_ms < cluster_pts_) return Status::Ok();
  if (pts_ms - cluster_pts_ > 32767) return Status::Error("KVS_TIMECODE_RANGE", "an audio frame is more than 32.7 s after its cluster's video key frame");
  AppendBlockHeader(out, size, static_cast<int64_t>(pts_ms - cluster_pts_), true, 2);
  out.insert(out.end(), frame, frame + size);
  have_audio_ = true;
  last_audio_pts_ = pts_ms;
  ++audio_frames_;
  *taken = true;
  return Status::Ok();
}

Status Fragmenter::AddAccessUnit(std::vector<uint8_t>& out, const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms, bool* started_fragment,
                                 Gather* gather) {
  Result<int64_t> rel = Prepare(out, pts_ms, au.keyframe, started_fragment);
  if (!rel.ok()) return rel.status();
  if (rel.value() > 32767) return Status::Error("KVS_TIMECODE_RANGE", "frame too far from its cluster start");
  AppendBlockHeader(out, h264::AvccSize(au), rel.value(), au.keyframe);
  for (const h264::NalUnit& n : au.nals) {
    if (h264::IsAud(au.codec, n.type)) continue;
    AppendBe32(out, static_cast<uint32_t>(n.size));
    gather->pieces.push_back({out.size(), data + n.offset, n.size});
    gather->bytes += n.size;
  }
  Commit(pts_ms);
  return Status::Ok();
}

Status Fragmenter::AddAccessUnit(std::vector<uint8_t>& out, const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms, bool* started_fragment) {
  Result<int64_t> rel = Prepare(out, pts_ms, au.keyframe, started_fragment);
  if (!rel.ok()) return rel.status();
  if (rel.value() > 32767) return Status::Error("KVS_TIMECODE_RANGE", "frame too far from its cluster start");
  AppendBlockHeader(out, h264::AvccSize(au), rel.value(), au.keyframe);
  h264::AppendAvcc(out, data, au);
  Commit(pts_ms);
  return Status::Ok();
}

namespace {

struct AudioFrame {
  const uint8_t* data;
  size_t size;
  uint64_t pts;
  uint64_t duration_ms;
};

// The audio input as frames timed by their sample count from start_ms. ADTS
// payloads point into the input (a whole buffer: the parser hands out
// complete frames in place) or into `keep`.
Status ReadAudio(const PackageOptions& o, AudioTrack* track, std::vector<AudioFrame>* frames, std::vector<std::vector<uint8_t>>& keep) {
  auto pts_of = [&](uint64_t samples, uint32_t rate) { return o.start_ms + (samples * 1000 + rate / 2) / rate; };
  if (o.audio == PackageOptions::Audio::kAdts) {
    aac::AdtsStream adts;
    uint64_t samples = 0;
    const aac::AdtsStream::Sink sink = [&](const uint8_t* p, size_t n, const aac::AdtsHeader& h) {
      const bool inside = p >= o.audio_data && p + n <= o.audio_data + o.audio_size;
      if (!inside) {
        keep.emplace_back(p, p + n);
        p = keep.back().data();
      }
      const uint64_t pts = pts_of(samples, h.sample_rate);
      samples += h.samples;
      frames->push_back({p, n, pts, pts_of(samples, h.sample_rate) - pts});
      return Status::Ok();
    };
    Status s = adts.Feed(o.audio_data, o.audio_size, sink);
    if (s.ok()) s = adts.Finish(sink);
    if (!s.ok()) return s;
    if (!adts.have_config()) return Status::Error("AAC_NO_SYNC", "the audio input holds no ADTS frame");
    track->codec_id = "A_AAC";
    track->sample_rate = adts.config().sample_rate;
    track->channels = adts.config().channel_config;
    track->codec_private = aac::AudioSpecificConfig(adts.config());
    return Status::Ok();
  }
  // G.711: one byte per sample and channel, in 20 ms frames.
  if (o.audio_rate < 1000 || o.audio_rate > 192000 || o.audio_channels < 1 || o.audio_channels > 8) {
    return Status::Error("KVS_BAD_OPTIONS", "G.711 audio needs a rate of 1000-192000 Hz and 1-8 channels");
  }
  const bool alaw = o.audio == PackageOptions::Audio::kAlaw;
  track->codec_id = "A_MS/ACM";
  track->sample_rate = o.audio_rate;
  track->channels = o.audio_channels;
  track->codec_private = aac::G711WaveFormatEx(alaw, o.audio_rate, static_cast<uint16_t>(o.audio_channels));
  const size_t frame_bytes = static_cast<size_t>(o.audio_rate / 50) * o.audio_channels;
  if (o.audio_size == 0) return Status::Error("KVS_BAD_OPTIONS", "the G.711 audio input is empty");
  uint64_t samples = 0;
  for (size_t off = 0; off < o.audio_size; off += frame_bytes) {
    const size_t n = std::min(frame_bytes, o.audio_size - off);
    const uint64_t pts = pts_of(samples, o.audio_rate);
    samples += n / o.audio_channels;
    frames->push_back({o.audio_data + off, n, pts, pts_of(samples, o.audio_rate) - pts});
  }
  return Status::Ok();
}

}  // namespace

Result<PackageResult> PackageAnnexB(const uint8_t* data, size_t size, const PackageOptions& o) {
  if (!(o.fps > 0 && o.fps <= 1000)) return Status::Error("KVS_BAD_OPTIONS", "fps must be in (0, 1000]");
  h264::Codec codec = o.codec;
  if (o.detect_codec && !kvs::DetectCodec(data, size, &codec)) {
    return Status::Error("KVS_NO_CODEC_DATA", "the stream has no H.264 or H.265 parameter sets (Annex-B with start codes expected)");
  }
  // The stream is read window by window (4 MiB: each is split, grouped and
  // copied while it is still in cache). Access units come out when the next
  // one has begun; the last of a window waits for the next window's units.
  h264::AnnexBScanner scan(data, size, codec);
  std::vector<h264::NalUnit> pending;  // units of the access unit not known to be complete
  bool more = true;
  auto next_units = [&](std::vector<h264::AccessUnit>* units) {
    units->clear();
    while (units->empty() && more) {
      more = scan.Next(o.window, &pending);
      *units = h264::GroupAccessUnits(data, pending, codec);
      pending.clear();
      if (more && !units->empty()) {
        pending = std::move(units->back().nals);
        units->pop_back();
      }
    }
  };
  // The track needs the first parameter sets: access units up to them are kept, then packaged first.
  std::vector<h264::AccessUnit> units;
  std::vector<h264::AccessUnit> batch;
  kvs::ParameterSets ps;
  while (!ps.Complete(codec)) {
    next_units(&batch);
    if (batch.empty()) break;
    for (const h264::AccessUnit& au : batch) {
      if (!ps.Complete(codec)) ps.Collect(data, au);
    }
    units.insert(units.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
  }
  if (!ps.Complete(codec)) {
    return Status::Error("KVS_NO_CODEC_DATA", codec == h264::Codec::kH265 ? "the H.265 stream has no VPS, SPS and PPS (Annex-B with start codes expected)"
                                                                          : "the H.264 stream has no SPS and PPS (Annex-B with start codes expected)");
  }
  Result<VideoTrack> t = kvs::MakeVideoTrack(codec, ps, {});
  if (!t.ok()) return t.status();
  VideoTrack track = std::move(t).value();
  PackageResult r;
  r.width = track.width;
  r.height = track.height;
  r.codec = codec;
  AudioTrack audio;
  std::vector<AudioFrame> audio_frames;
  std::vector<std::vector<uint8_t>> audio_copies;  // frames the parser could not hand out in place
  if (o.audio != PackageOptions::Audio::kNone) {
    Status s = ReadAudio(o, &audio, &audio_frames, audio_copies);
    if (!s.ok()) return s;
    r.audio_rate = audio.sample_rate;
    r.audio_channels = audio.channels;
  }
  r.mkv = StreamHeader(track, o.segment_uid, "camwire", o.audio != PackageOptions::Audio::kNone ? &audio : nullptr);
  // Whole in memory, or in pieces to the sink: headers in a reused buffer, frames straight from the input.
  r.mkv.reserve(o.sink ? (o.sink_chunk >> 4) + (64 << 10) : r.mkv.size() + size + size / 16);
  Prefault prefault(o.sink ? nullptr : r.mkv.data(), o.sink ? 0 : r.mkv.capacity());
  Fragmenter::Gather gather;
  std::vector<PackageOptions::Span> spans;
  auto flush = [&](bool last) -> Status {
    if (!o.sink || (!last && r.mkv.size() + gather.bytes < o.sink_chunk)) return Status::Ok();
    spans.clear();
    size_t at = 0;
    for (const Fragmenter::Gather::Piece& p : gather.pieces) {
      if (p.at > at) spans.push_back({r.mkv.data() + at, p.at - at});
      spans.push_back({p.data, p.size});
      at = p.at;
    }
    if (r.mkv.size() > at) spans.push_back({r.mkv.data() + at, r.mkv.size() - at});
    r.bytes += r.mkv.size() + gather.bytes;
    Status s = spans.empty() ? Status::Ok() : o.sink(spans);
    r.mkv.clear();
    gather.pieces.clear();
    gather.bytes = 0;
    return s;
  };
  Fragmenter frag(o.fragment_duration_ms, o.absolute_timecodes);
  uint64_t index = 0;
  size_t next_audio = 0;
  uint64_t audio_end = 0;
  // Audio before `until` goes in first: blocks are interleaved by time, and
  // a cluster holds the audio from its key frame up to the next cluster's.
  auto put_audio = [&](uint64_t until, bool all) -> Status {
    for (; next_audio < audio_frames.size() && (all || audio_frames[next_audio].pts < until); ++next_audio) {
      const AudioFrame& a = audio_frames[next_audio];
      bool taken = false;
      Status s = frag.AddAudio(r.mkv, a.data, a.size, a.pts, &taken);
      if (!s.ok()) return s;
      if (taken) audio_end = a.pts + a.duration_ms;
    }
    return Status::Ok();
  };
  for (;;) {
    for (const h264::AccessUnit& au : units) {
      if (!h264::HasSlice(au)) continue;         // parameter sets alone are not a frame
      if (index == 0 && !au.keyframe) continue;  // skip to the first key frame, as a live producer does
      const uint64_t pts = o.start_ms + static_cast<uint64_t>(std::llround(static_cast<double>(index) * 1000.0 / o.fps));
      Status s = put_audio(pts, false);
      if (!s.ok()) return s;
      bool started = false;
      s = o.sink ? frag.AddAccessUnit(r.mkv, data, au, pts, &started, &gather) : frag.AddAccessUnit(r.mkv, data, au, pts, &started);
      if (!s.ok()) return s;
      s = flush(false);
      if (!s.ok()) return s;
      ++index;
    }
    next_units(&units);
    if (units.empty()) break;
  }
  if (index > 0) {
    Status s = put_audio(0, true);  // the rest, after the last video frame
    if (!s.ok()) return s;
  }
  if (!o.sink) r.bytes = r.mkv.size();
  r.audio_frames = frag.audio_frames();
  r.audio_ms = audio_end > o.start_ms ? audio_end - o.start_ms : 0;
  if (index == 0) return Status::Error("KVS_NO_FRAMES", std::string("the ") + (codec == h264::Codec::kH265 ? "H.265" : "H.264") + " stream has no key frame");
  Status fs = flush(true);
  if (!fs.ok()) return fs;
  r.frames = frag.frames();
  r.fragments = frag.fragments();
  return r;
}

}  // namespace mkv
}  // namespace camwire
