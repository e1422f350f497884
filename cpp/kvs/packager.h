// The producer's packaging side (network loop thread only): takes queued
// frames and Annex-B pieces off the InputQueue, finds the track (SPS/PPS),
// times Annex-B units, puts access units into the FragmentStore and hands
// the input back through the release sink. Frames that cannot be sent are
// reported as dropped, in runs.
#pragma once

#include <cstddef>
#include <cstdint>

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
  bool have_track() const { return have_track_; }
  const mkv::VideoTrack& track() const { return track_; }

 private:
  bool SetTrack(h264::Codec codec);
  // Puts one access unit into the store. false: the store is full and the
  // policy is to block (the caller keeps the frame queued).
  bool Package(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts);
  Status PackageAnnexBUnit(const uint8_t* d, const h264::AccessUnit& au);
  uint64_t NextAnnexBPts() const;
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
  bool flushed_ = false;
};

}  // namespace kvs
}  // namespace camwire
