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

bool Packager::SetTrack(const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size) {
  Result<std::vector<uint8_t>> avcc = o_.codec_private.empty() ? h264::BuildAvcC(sps, sps_size, pps, pps_size) : Result<std::vector<uint8_t>>(o_.codec_private);
  if (!avcc.ok()) {
    events_.Error(avcc.status().code(), avcc.status().message(), false);
    return false;
  }
  Result<h264::SpsInfo> info = h264::ParseSps(sps, sps_size);
  if (!info.ok()) {
    events_.Error(info.status().code(), info.status().message(), false);
    return false;
  }
  track_.codec_private = std::move(avcc).value();
  track_.width = info.value().width;
  track_.height = info.value().height;
  have_track_ = true;
  return true;
}

bool Packager::Package(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts) {
  if (!have_track_) {
    const h264::NalUnit* sps = nullptr;
    const h264::NalUnit* pps = nullptr;
    for (const auto& n : au.nals) {
      if (n.type == h264::kSps && !sps) sps = &n;
      if (n.type == h264::kPps && !pps) pps = &n;
    }
    if (sps && pps) SetTrack(data + sps->offset, sps->size, data + pps->offset, pps->size);
    if (!have_track_ || !au.keyframe) {
      // Nothing can be sent before a key frame with its parameter sets.
      drops_.Note(pts, 1);
      return true;
    }
  }
  Result<PutOutcome> r = store_.PutAccessUnit(data, au, pts);
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
    if (q.kind == InputKind::kAnnexB) {
      // Block policy: wait for room for the whole piece before taking it.
      if (o_.store.overflow == OverflowPolicy::kBlock && !store_.Fits(q.size, NextAnnexBPts())) {
        taken = false;
      } else {
        Status s = annexb_.Feed(q.data, q.size, sink);
        if (!s.ok()) events_.Error(s.code(), s.message(), false);
      }
    } else {
      h264::AccessUnit au = h264::WholeAccessUnit(q.data, q.size);
      if (q.keyframe != KeyframeHint::kFromNals) au.keyframe = q.keyframe == KeyframeHint::kYes;
      taken = Package(q.data, au, q.pts);
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
    drops_.Flush();
    flushed_ = true;
  }
  drops_.FlushIfLong(SteadyMs());
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
  if (annexb_index_ == 0 && annexb_start_ == 0) annexb_start_ = o_.annexb_start_ms ? o_.annexb_start_ms : WallMs();
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
