#include "kvs/fragment_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace camwire {
namespace kvs {

FragmentStore::FragmentStore(const StoreOptions& options) : o_(options), fragmenter_(options.fragment_duration_ms, /*absolute_timecodes=*/true) {}

uint64_t FragmentStore::DurationLocked() const {
  if (frags_.empty()) return 0;
  return frags_.back().last_pts - frags_.front().first_pts;
}

bool FragmentStore::FitsLocked(size_t size, uint64_t pts_ms) const {
  if (bytes_ + size + 64 > o_.max_bytes) return false;
  if (!frags_.empty() && pts_ms > frags_.front().first_pts && pts_ms - frags_.front().first_pts > o_.max_duration_ms) return false;
  return true;
}

bool FragmentStore::Fits(size_t size, uint64_t pts_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  return FitsLocked(size, pts_ms);
}

template <typename Writer>
Result<PutOutcome> FragmentStore::PutLocked(size_t size, uint64_t pts_ms, bool keyframe, Writer write) {
  if (dropping_ && !keyframe) {
    ++stats_.frames_dropped;
    return PutOutcome::kDropped;
  }
  if (!FitsLocked(size, pts_ms)) {
    if (o_.overflow == OverflowPolicy::kBlock) {
      return Status::Error("KVS_STORE_FULL", "the fragment store is full (" + std::to_string(bytes_) + " bytes); wait for acks or raise storeBytes");
    }
    dropping_ = true;
    ++stats_.frames_dropped;
    return PutOutcome::kDropped;
  }
  // The frame is written straight onto the open fragment's bytes (no
  // intermediate buffer); when it opens a new fragment, it is moved there.
  if (frags_.empty()) frags_.emplace_back();
  std::vector<uint8_t>& open = frags_.back().bytes;
  const size_t off = open.size();
  if (open.capacity() < off + size + 64) open.reserve(std::max(off + size + 64, open.capacity() + open.capacity() / 2));
  bool started = false;
  Status s = write(open, &started);
  if (!s.ok()) {
    open.resize(off);
    if (off == 0 && frags_.back().frames == 0) frags_.pop_back();
    return s;
  }
  const size_t written = open.size() - off;
  // A drop run ends at a key frame: decoding resumes cleanly from it.
  dropping_ = false;
  if (started && (off > 0 || frags_.back().frames > 0)) {
    Fragment f;
    // Room for about as much as the previous fragment held.
    f.bytes.reserve(std::max<size_t>(written + 64, off + off / 4));
    f.bytes.assign(frags_.back().bytes.begin() + static_cast<std::ptrdiff_t>(off), frags_.back().bytes.end());
    frags_.back().bytes.resize(off);
    frags_.push_back(std::move(f));
  }
  if (started || frags_.back().frames == 0) {
    frags_.back().timecode = pts_ms;
    frags_.back().first_pts = pts_ms;
    if (started) TrimLocked();  // a persisted fragment that was still open is closed now and can go
  }
  Fragment& cur = frags_.back();
  cur.last_pts = pts_ms;
  ++cur.frames;
  bytes_ += written;
  stats_.bytes_stored_total += written;
  ++stats_.frames_stored;
  return PutOutcome::kStored;
}

Result<PutOutcome> FragmentStore::PutFrame(const uint8_t* frame, size_t size, uint64_t pts_ms, bool keyframe) {
  std::lock_guard<std::mutex> lock(mu_);
  return PutLocked(size, pts_ms, keyframe,
                   [&](std::vector<uint8_t>& out, bool* started) { return fragmenter_.Add(out, frame, size, pts_ms, keyframe, started); });
}

Result<PutOutcome> FragmentStore::PutAccessUnit(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  return PutLocked(h264::AvccSize(au), pts_ms, au.keyframe,
                   [&](std::vector<uint8_t>& out, bool* started) { return fragmenter_.AddAccessUnit(out, data, au, pts_ms, started); });
}

bool FragmentStore::WaitForSpace(size_t size, uint64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return space_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return bytes_ + size + 64 <= o_.max_bytes; });
}

size_t FragmentStore::ReadChunk(std::vector<uint8_t>& out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t copied = 0;
  while (copied < max && send_frag_ < frags_.size()) {
    const Fragment& f = frags_[send_frag_];
    const size_t avail = f.bytes.size() - send_off_;
    const size_t n = std::min(avail, max - copied);
    out.insert(out.end(), f.bytes.begin() + static_cast<std::ptrdiff_t>(send_off_), f.bytes.begin() + static_cast<std::ptrdiff_t>(send_off_ + n));
    copied += n;
    send_off_ += n;
    // Move on only when a later fragment exists: the last one may still grow.
    if (send_off_ == f.bytes.size() && send_frag_ + 1 < frags_.size()) {
      ++send_frag_;
      send_off_ = 0;
    } else if (n == 0) {
      break;
    }
  }
  return copied;
}

void FragmentStore::Rewind() {
  std::lock_guard<std::mutex> lock(mu_);
  send_frag_ = 0;
  send_off_ = 0;
  sent_any_ = false;
  // A persisted fragment kept only because it was the open one is not resent.
  while (send_frag_ + 1 < frags_.size() && frags_[send_frag_].persisted) ++send_frag_;
}

bool FragmentStore::OnAck(const Ack& ack) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ack.has_timecode) return false;
  auto it = std::find_if(frags_.begin(), frags_.end(), [&](const Fragment& f) { return f.timecode == ack.fragment_timecode; });
  if (it == frags_.end()) return false;
  const bool trim = ack.type == AckType::kPersisted || (o_.trim_on_received && ack.type == AckType::kReceived);
  if (!trim) return true;
  // Everything up to and including the acknowledged fragment is durable.
  for (auto p = frags_.begin(); p != it + 1; ++p) {
    if (!p->persisted) ++stats_.fragments_persisted;
    p->persisted = true;
  }
  TrimLocked();
  return true;
}

void FragmentStore::TrimLocked() {
  // The last fragment stays while it is open: more frames may join it.
  size_t n = 0;
  while (!frags_.empty() && frags_.front().persisted && frags_.size() > 1) {
    bytes_ -= frags_.front().bytes.size();
    frags_.pop_front();
    ++n;
  }
  if (n == 0) return;
  if (send_frag_ >= n) {
    send_frag_ -= n;
  } else {
    send_frag_ = 0;
    send_off_ = 0;
  }
  space_.notify_all();
}

size_t FragmentStore::ReadInto(uint8_t* out, size_t max, bool stop_at_boundary, bool* at_boundary, std::vector<uint64_t>* started) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t copied = 0;
  if (at_boundary) *at_boundary = false;
  while (copied < max && send_frag_ < frags_.size()) {
    const Fragment& f = frags_[send_frag_];
    if (send_off_ == 0 && stop_at_boundary && copied == 0 && sent_any_) {
      // Sitting on a fragment start (the previous one went out whole).
      if (at_boundary) *at_boundary = true;
      return 0;
    }
    if (send_off_ == 0 && started) started->push_back(f.timecode);
    const size_t n = std::min(f.bytes.size() - send_off_, max - copied);
    std::memcpy(out + copied, f.bytes.data() + send_off_, n);
    copied += n;
    send_off_ += n;
    if (n > 0) sent_any_ = true;
    if (send_off_ == f.bytes.size() && send_frag_ + 1 < frags_.size()) {
      ++send_frag_;
      send_off_ = 0;
      if (stop_at_boundary) {
        if (at_boundary) *at_boundary = true;
        break;
      }
    } else if (n == 0 || send_off_ == f.bytes.size()) {
      break;
    }
  }
  return copied;
}

bool FragmentStore::AllRead() const {
  std::lock_guard<std::mutex> lock(mu_);
  return frags_.empty() || (send_frag_ + 1 >= frags_.size() && send_off_ == frags_.back().bytes.size());
}

size_t FragmentStore::Unpersisted() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& f : frags_) n += f.persisted ? 0 : 1;
  return n;
}

size_t FragmentStore::DropFragment(uint64_t timecode) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < frags_.size(); ++i) {
    if (frags_[i].timecode != timecode) continue;
    if (i + 1 == frags_.size()) {
      // The open fragment: mark it, so it goes as soon as the next one starts.
      frags_[i].persisted = true;
      return frags_[i].frames;
    }
    const size_t frames = frags_[i].frames;
    bytes_ -= frags_[i].bytes.size();
    frags_.erase(frags_.begin() + static_cast<std::ptrdiff_t>(i));
    if (send_frag_ > i) {
      --send_frag_;
    } else if (send_frag_ == i) {
      send_off_ = 0;
    }
    stats_.frames_dropped += frames;
    space_.notify_all();
    return frames;
  }
  return 0;
}

std::vector<uint64_t> FragmentStore::SentFragments() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (size_t i = 0; i < send_frag_ && i < frags_.size(); ++i) out.push_back(frags_[i].timecode);
  return out;
}

StoreStats FragmentStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.bytes = bytes_;
  s.fragments = frags_.size();
  s.duration_ms = DurationLocked();
  return s;
}

}  // namespace kvs
}  // namespace camwire
