// The producer's packaging side (network loop thread only): takes queued
// frames and Annex-B pieces off the InputQueue, finds the track (SPS/PPS),
// times Annex-B units, puts access units into the FragmentStore and hands
// the input back through the release sink. Frames that cannot be sent are
// reported as dropped, in runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "kvs/aac.h"

#include "kvs/annexb_stream.h"
#include "kvs/fragment_store.h"
#include "kvs/input_queue.h"
#include "kvs/mkv.h"
#include "kvs/producer.h"
#include "kvs/producer_events.h"

namespace camwire {
namespace kvs {

// Consecutive dropped frames, reported as one kDropped event.
class DropRun {
 public:
  explicit DropRun(EventEmitter& events) : events_(events) {}
  void Note(uint64_t pts, uint64_t frames);
  void Flush();
  // A long run (the network is down) is reported at least once a second.
  void FlushIfLong(uint64_t now);

 private:
  EventEmitter& events_;
  uint64_t first_ = 0;
  uint64_t frames_ = 0;
  uint64_t started_ = 0;
};

class Packager {
 public:
  Packager(const ProducerOptions& o, FragmentStore& store, InputQueue& queue, EventEmitter& events, DropRun& drops, Producer::ReleaseSink release);

  // Packages queued input, about kDrainBudget bytes per loop turn so that
  // sending interleaves with packaging. Returns true when input is left.
  static constexpr size_t kDrainBudget = 1u << 20;
  bool Drain();
  // Hands back everything still queued, unpackaged.
  void ReleaseAll();

  // The close was requested and everything was packaged (and the drop run reported).
  bool flushed() const { return flushed_; }
  // The stream header can be written: the video track is known, and the
  // audio track too when the stream has audio.
  bool have_track() const { return have_track_ && (o_.audio == ProducerOptions::AudioCodec::kNone || have_audio_track_); }
  const mkv::VideoTrack& track() const { return track_; }
  const mkv::AudioTrack* audio_track() const { return have_audio_track_ ? &audio_track_ : nullptr; }

 private:
  bool SetTrack(h264::Codec codec);
  // Puts one access unit into the store. false: the store is full and the
  // policy is to block (the caller keeps the frame queued).
  bool Package(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts);
  Status PackageAnnexBUnit(const uint8_t* d, const h264::AccessUnit& au);
  uint64_t NextAnnexBPts() const;
  // Audio: frames are copied (they are small) and held until the video has
  // passed their time, so that each cluster holds the audio from its key
  // frame to the next cluster's; held audio more than 3 s ahead of the video
  // goes in anyway (the video stalled), and all of it at the end.
  void PackageAudio(const uint8_t* data, size_t size, uint64_t pts);
  void FlushAudio(uint64_t before, bool all);
  bool SetAudioTrack(const aac::AdtsHeader* adts);
  void Release(const QueuedInput& q);

  const ProducerOptions& o_;
  FragmentStore& store_;
  InputQueue& queue_;
  EventEmitter& events_;
  DropRun& drops_;
  Producer::ReleaseSink release_;

  h264::AnnexBStream annexb_;
  uint64_t annexb_index_ = 0;
  uint64_t annexb_start_ = 0;
  bool annexb_finished_ = false;
  bool codec_known_ = false;  // for putFrame input (an Annex-B stream finds its own)
  h264::Codec codec_ = h264::Codec::kH264;
  ParameterSets params_;
  bool have_track_ = false;
  mkv::VideoTrack track_;
  struct HeldAudio {
    uint64_t pts;
    std::vector<uint8_t> bytes;
  };
  std::deque<HeldAudio> held_audio_;
  bool have_audio_track_ = false;
  mkv::AudioTrack audio_track_;
  aac::AdtsHeader adts_config_;
  bool have_adts_config_ = false;
  bool audio_warned_ = false;
  uint64_t last_video_pts_ = 0;
  bool flushed_ = false;
};

}  // namespace kvs
}  // namespace camwire
