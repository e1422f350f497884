#include "kvs/packager.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kvs/clock.h"
#include "kvs/h264.h"

namespace camwire {
namespace kvs {

// ---- DropRun -------------------------------------------------------------------

void DropRun::Note(uint64_t pts, uint64_t frames) {
  if (frames_ == 0) {
    first_ = pts;
    started_ = SteadyMs();
  }
  frames_ += frames;
}

void DropRun::Flush() {
  if (frames_ == 0) return;
  ProducerEvent e;
  e.kind = ProducerEvent::kDropped;
  e.timecode = first_;
  e.frames = frames_;
  frames_ = 0;
  events_.Emit(std::move(e));
}

void DropRun::FlushIfLong(uint64_t now) {
  if (frames_ > 0 && Elapsed(now, started_) >= 1000) Flush();
}

// ---- Packager ------------------------------------------------------------------

Packager::Packager(const ProducerOptions& o, FragmentStore& store, InputQueue& queue, EventEmitter& events, DropRun& drops, Producer::ReleaseSink release)
    : o_(o),
      store_(store),
      queue_(queue),
      events_(events),
      drops_(drops),
      release_(std::move(release)),
      annexb_(32u << 20, o.codec == CodecChoice::kH265 ? h264::Codec::kH265 : h264::Codec::kH264) {
  if (o.codec == CodecChoice::kAuto) {
    annexb_.AutoDetect();
  } else {
    codec_known_ = true;
    codec_ = o.codec == CodecChoice::kH265 ? h264::Codec::kH265 : h264::Codec::kH264;
  }
  // An audio track described by the options is known before any frame.
  if (o.audio != ProducerOptions::AudioCodec::kNone && (o.audio != ProducerOptions::AudioCodec::kAac || !o.audio_config.empty() || o.audio_rate)) {
    SetAudioTrack(nullptr);
  }
}

bool Packager::SetAudioTrack(const aac::AdtsHeader* adts) {
  mkv::AudioTrack a;
  if (o_.audio == ProducerOptions::AudioCodec::kAac) {
    a.codec_id = "A_AAC";
    if (adts) {
      a.sample_rate = adts->sample_rate;
      a.channels = adts->channel_config;
      a.codec_private = aac::AudioSpecificConfig(*adts);
    } else if (!o_.audio_config.empty()) {
      // AudioSpecificConfig: 5 bits object type, 4 bits frequency index, 4 bits channels.
      a.codec_private = o_.audio_config;
      const uint8_t index = o_.audio_config.size() >= 2 ? static_cast<uint8_t>(((o_.audio_config[0] & 7) << 1) | (o_.audio_config[1] >> 7)) : 15;
      a.sample_rate = o_.audio_rate ? o_.audio_rate : aac::SampleRateOf(index);
      a.channels = o_.audio_channels ? o_.audio_channels : (o_.audio_config.size() >= 2 ? (o_.audio_config[1] >> 3) & 0xf : 0);
    } else {
      aac::AdtsHeader h;
      h.object_type = 2;  // AAC LC
      h.sampling_index = 15;
      for (uint8_t i = 0; i < 13; ++i) {
        if (aac::SampleRateOf(i) == o_.audio_rate) h.sampling_index = i;
      }
      if (h.sampling_index == 15) {
        events_.Error("KVS_BAD_OPTIONS", "audio rate " + std::to_string(o_.audio_rate) + " Hz is not an AAC sampling rate", false);
        return false;
      }
      h.sample_rate = o_.audio_rate;
      h.channel_config = static_cast<uint8_t>(o_.audio_channels);
      a.sample_rate = h.sample_rate;
      a.channels = h.channel_config;
      a.codec_private = aac::AudioSpecificConfig(h);
    }
  } else {
    const bool alaw = o_.audio == ProducerOptions::AudioCodec::kAlaw;
    a.codec_id = "A_MS/ACM";
    a.sample_rate = o_.audio_rate;
    a.channels = o_.audio_channels;
    a.codec_private = aac::G711WaveFormatEx(alaw, o_.audio_rate, static_cast<uint16_t>(o_.audio_channels));
  }
  audio_track_ = std::move(a);
  have_audio_track_ = true;
  if (have_track_) store_.SetTrack(track_, &audio_track_);
  return true;
}

void Packager::PackageAudio(const uint8_t* p, size_t n, uint64_t pts) {
  if (o_.audio == ProducerOptions::AudioCodec::kAac) {
    Result<aac::AdtsHeader> h = aac::ParseAdtsHeader(p, n);
    if (h.ok() && h.value().frame_size == n) {
      if (!have_adts_config_) {
        adts_config_ = h.value();
        have_adts_config_ = true;
        if (!have_audio_track_) SetAudioTrack(&adts_config_);
      } else if (!aac::SameConfig(adts_config_, h.value())) {
        if (!audio_warned_) {
          audio_warned_ = true;
          events_.Error("AAC_CONFIG_CHANGED",
                        "an audio frame is " + aac::Describe(h.value()) + " after " + aac::Describe(adts_config_) +
                            "; such frames are dropped (Matroska's CodecPrivate holds one configuration)",
                        false, pts);
        }
        return;
      }
      p += h.value().header_size;
      n -= h.value().header_size;
    } else if (!have_audio_track_) {
      if (!audio_warned_) {
        audio_warned_ = true;
        events_.Error("KVS_BAD_OPTIONS", "raw AAC frames need the audio configuration (sampleRate and channels, or audioSpecificConfig), or ADTS headers",
                      false, pts);
      }
      return;
    }
  }
  held_audio_.push_back({pts, std::vector<uint8_t>(p, p + n)});
  FlushAudio(last_video_pts_, false);
  if (!held_audio_.empty() && held_audio_.back().pts > held_audio_.front().pts + 3000) FlushAudio(held_audio_.back().pts - 3000, false);
}

void Packager::FlushAudio(uint64_t before, bool all) {
  while (!held_audio_.empty() && (all || held_audio_.front().pts < before)) {
    const HeldAudio& a = held_audio_.front();
    bool taken = false;
    Status s = store_.PutAudio(a.bytes.data(), a.bytes.size(), a.pts, &taken);
    if (!s.ok()) events_.Error(s.code(), s.message(), false, a.pts);
    held_audio_.pop_front();
  }
}

bool Packager::SetTrack(h264::Codec codec) {
  Result<mkv::VideoTrack> t = MakeVideoTrack(codec, params_, o_.codec_private);
  if (!t.ok()) {
    params_ = ParameterSets();  // a malformed set is not kept: the next ones are tried
    events_.Error(t.status().code(), t.status().message(), false);
    return false;
  }
  track_ = std::move(t).value();
  have_track_ = true;
  store_.SetTrack(track_, have_audio_track_ ? &audio_track_ : nullptr);
  return true;
}

bool Packager::Package(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts) {
  if (!have_track_) {
    params_.Collect(data, au);
    if (params_.Complete(au.codec)) SetTrack(au.codec);
    if (!have_track_ || !au.keyframe) {
      // Nothing can be sent before a key frame with its parameter sets.
      drops_.Note(pts, 1);
      return true;
    }
  }
  FlushAudio(pts, false);  // the audio before this frame goes first (into the cluster it belongs to)
  Result<PutOutcome> r = store_.PutAccessUnit(data, au, pts);
  last_video_pts_ = pts;
  if (!r.ok()) {
    if (r.status().code() == "KVS_STORE_FULL") return false;
    drops_.Flush();
    events_.Error(r.status().code(), r.status().message(), false, pts);
    return true;
  }
  if (r.value() == PutOutcome::kDropped) {
    drops_.Note(pts, 1);
  } else {
    drops_.Flush();
  }
  return true;
}

void Packager::Release(const QueuedInput& q) {
  queue_.Released(q.size);
  if (release_) release_(q.token, q.size);
}

bool Packager::Drain() {
  size_t budget = kDrainBudget;
  bool more = false;
  const h264::AnnexBStream::Sink sink = [this](const uint8_t* d, const h264::AccessUnit& au) { return PackageAnnexBUnit(d, au); };
  for (;;) {
    QueuedInput q;
    const InputQueue::Peek peek = queue_.Front(budget != 0, &q);
    if (peek == InputQueue::Peek::kEmpty) break;
    if (peek == InputQueue::Peek::kBudgetSpent) {
      more = true;
      break;
    }
    budget -= std::min(budget, q.size);
    bool taken = true;
    if (q.kind == InputKind::kAudio) {
      PackageAudio(q.data, q.size, q.pts);
    } else if (q.kind == InputKind::kAnnexB) {
      // Block policy: wait for room for the whole piece before taking it.
      if (o_.store.overflow == OverflowPolicy::kBlock && !store_.Fits(q.size, NextAnnexBPts())) {
        taken = false;
      } else {
        Status s = annexb_.Feed(q.data, q.size, sink);
        if (!s.ok()) events_.Error(s.code(), s.message(), false);
      }
    } else {
      // A frame given whole: the codec is the option's, or found from the first frames' parameter sets.
      if (!codec_known_) codec_known_ = DetectCodec(q.data, q.size, &codec_);
      if (!codec_known_) {
        drops_.Note(q.pts, 1);
      } else {
        h264::AccessUnit au = h264::WholeAccessUnit(q.data, q.size, codec_);
        if (q.keyframe != KeyframeHint::kFromNals) au.keyframe = q.keyframe == KeyframeHint::kYes;
        taken = Package(q.data, au, q.pts);
      }
    }
    if (!taken) break;
    queue_.PopFront();
    Release(q);
  }
  if (queue_.ClosingAndDrained() && !flushed_) {
    if (queue_.Kind() == InputKind::kAnnexB && !annexb_finished_) {
      annexb_finished_ = true;
      Status s = annexb_.Finish(sink);
      if (!s.ok()) events_.Error(s.code(), s.message(), false);
    }
    FlushAudio(0, true);
    drops_.Flush();
    flushed_ = true;
  }
  drops_.FlushIfLong(SteadyMs());
  for (const auto& w : store_.TakeWarnings()) events_.Error(w.first, w.second, false);
  return more;
}

void Packager::ReleaseAll() {
  QueuedInput q;
  while (queue_.Pop(&q)) Release(q);
}

uint64_t Packager::NextAnnexBPts() const {
  return annexb_start_ + static_cast<uint64_t>(std::llround(static_cast<double>(annexb_index_) * 1000.0 / o_.annexb_fps));
}

Status Packager::PackageAnnexBUnit(const uint8_t* d, const h264::AccessUnit& au) {
  if (annexb_index_ == 0 && annexb_start_ == 0) {
    annexb_start_ = o_.annexb_start_ms ? o_.annexb_start_ms : WallMs();
    // After fragments recovered from disk, the new frames come later in time
    // than theirs: a restart within the lead a real-time feed keeps over the
    // wall clock would otherwise time its first frames before the last ones sent.
    const uint64_t after = store_.RecoveredLastPts();
    if (!o_.annexb_start_ms && after != 0) {
      annexb_start_ = std::max<uint64_t>(annexb_start_, after + static_cast<uint64_t>(std::llround(1000.0 / o_.annexb_fps)));
    }
  }
  const uint64_t pts = NextAnnexBPts();
  if (!have_track_ && !au.keyframe) return Status::Ok();  // before the first key frame: skipped, not timed
  ++annexb_index_;
  // A piece holds many frames; under the block policy it was admitted whole
  // (a unit that still finds the store full is reported as dropped).
  if (!Package(d, au, pts)) drops_.Note(pts, 1);
  return Status::Ok();
}

}  // namespace kvs
}  // namespace camwire
