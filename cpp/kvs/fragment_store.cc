#include "kvs/fragment_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace camwire {
namespace kvs {

FragmentStore::FragmentStore(const StoreOptions& options) : o_(options), fragmenter_(options.fragment_duration_ms, /*absolute_timecodes=*/true) {}

namespace {

// The track blob kept in the journal: version 1, then codec id, width,
// height and CodecPrivate, each length-prefixed (u32 little-endian).
void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
bool GetU32(const std::vector<uint8_t>& in, size_t* at, uint32_t* v) {
  if (in.size() < *at + 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(in[*at + i]) << (8 * i);
  *at += 4;
  return true;
}
void PutBytes(std::vector<uint8_t>& out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}
void PutBytes(std::vector<uint8_t>& out, const std::vector<uint8_t>& b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}
template <typename T>
bool GetBytes(const std::vector<uint8_t>& in, size_t* at, T* out, uint32_t max) {
  uint32_t n = 0;
  if (!GetU32(in, at, &n) || n > max || in.size() < *at + n) return false;
  out->assign(in.begin() + static_cast<std::ptrdiff_t>(*at), in.begin() + static_cast<std::ptrdiff_t>(*at + n));
  *at += n;
  return true;
}
// Version 2: the video track, then a flag and the audio track.
std::vector<uint8_t> TrackBlob(const mkv::VideoTrack& t, const mkv::AudioTrack* a) {
  std::vector<uint8_t> out;
  PutU32(out, 2);
  PutBytes(out, t.codec_id);
  PutU32(out, t.width);
  PutU32(out, t.height);
  PutBytes(out, t.codec_private);
  PutU32(out, a ? 1 : 0);
  if (a) {
    PutBytes(out, a->codec_id);
    PutU32(out, a->sample_rate);
    PutU32(out, a->channels);
    PutBytes(out, a->codec_private);
  }
  return out;
}
bool ParseTrackBlob(const std::vector<uint8_t>& in, mkv::VideoTrack* t, mkv::AudioTrack* a, bool* has_audio) {
  size_t at = 0;
  uint32_t version = 0, flag = 0;
  if (!GetU32(in, &at, &version) || version != 2) return false;
  if (!GetBytes(in, &at, &t->codec_id, 64) || !GetU32(in, &at, &t->width) || !GetU32(in, &at, &t->height) || !GetBytes(in, &at, &t->codec_private, 1u << 16) ||
      !GetU32(in, &at, &flag) || flag > 1) {
    return false;
  }
  *has_audio = flag == 1;
  if (*has_audio && (!GetBytes(in, &at, &a->codec_id, 64) || !GetU32(in, &at, &a->sample_rate) || !GetU32(in, &at, &a->channels) ||
                     !GetBytes(in, &at, &a->codec_private, 1u << 16))) {
    return false;
  }
  return at == in.size();
}

}  // namespace

Status FragmentStore::OpenJournal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (o_.dir.empty() || journal_) return Status::Ok();
  JournalRecovery rec;
  Result<std::unique_ptr<FragmentJournal>> j = FragmentJournal::Open(o_.dir, &rec);
  if (!j.ok()) return j.status();
  journal_ = std::move(j).value();
  for (const std::string& w : rec.warnings) Warn("KVS_STORE_CORRUPT", w);
  if (!rec.track.empty() && ParseTrackBlob(rec.track, &recovered_track_, &recovered_audio_, &recovered_has_audio_)) have_recovered_track_ = true;
  if (!rec.fragments.empty() && !have_recovered_track_) {
    // Fragments without the track they were made with cannot be described to KVS.
    for (const JournalFragment& f : rec.fragments) journal_->Remove(f.timecode);
    Warn("KVS_STORE_CORRUPT", std::to_string(rec.fragments.size()) + " fragment(s) in " + o_.dir + " had no readable track description and were removed");
    return Status::Ok();
  }
  uint64_t frames = 0;
  for (const JournalFragment& jf : rec.fragments) {
    Fragment f;
    f.timecode = jf.timecode;
    f.first_pts = jf.first_pts;
    f.last_pts = jf.last_pts;
    f.frames = jf.frames;
    f.size = static_cast<size_t>(jf.bytes);
    f.sealed = f.journaled = f.released = true;
    bytes_ += f.size;
    frames += f.frames;
    recovered_last_pts_ = std::max(recovered_last_pts_, f.last_pts);
    frags_.push_back(std::move(f));
  }
  stats_.frames_recovered = frames;
  if (!rec.fragments.empty()) {
    Warn("KVS_STORE_RECOVERED", "found " + std::to_string(rec.fragments.size()) + " fragment(s) (" + std::to_string(frames) + " frames, " +
                                    std::to_string(bytes_) + " bytes) not yet persisted in " + o_.dir + "; sending them first");
  }
  return Status::Ok();
}

void FragmentStore::SetTrack(const mkv::VideoTrack& track, const mkv::AudioTrack* audio) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!journal_) return;
  Status s = journal_->SetTrack(TrackBlob(track, audio));
  if (!s.ok()) Warn(s.code(), s.message());
}

bool FragmentStore::RecoveredTrack(mkv::VideoTrack* track, mkv::AudioTrack* audio, bool* has_audio) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!have_recovered_track_) return false;
  *track = recovered_track_;
  if (audio) *audio = recovered_audio_;
  if (has_audio) *has_audio = recovered_has_audio_;
  return true;
}

uint64_t FragmentStore::RecoveredLastPts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recovered_last_pts_;
}

bool FragmentStore::HasRecoveredTrack() const {
  std::lock_guard<std::mutex> lock(mu_);
  return have_recovered_track_;
}

Status FragmentStore::PutAudio(const uint8_t* frame, size_t size, uint64_t pts_ms, bool* taken) {
  std::lock_guard<std::mutex> lock(mu_);
  *taken = false;
  if (dropping_ || frags_.empty() || frags_.back().sealed || frags_.back().frames == 0 || !FitsLocked(size, pts_ms)) {
    ++stats_.audio_frames_dropped;
    return Status::Ok();
  }
  Fragment& open = frags_.back();
  const size_t off = open.bytes.size();
  Status s = fragmenter_.AddAudio(open.bytes, frame, size, pts_ms, taken);
  if (!s.ok() || !*taken) {
    open.bytes.resize(off);
    ++stats_.audio_frames_dropped;
    return s;
  }
  const size_t written = open.bytes.size() - off;
  open.size = open.bytes.size();
  memory_bytes_ += written;
  bytes_ += written;
  stats_.bytes_stored_total += written;
  ++stats_.audio_frames_stored;
  if (journal_ && open.journaled) {
    Status js = journal_->Append(open.bytes.data() + off, written, pts_ms);
    if (!js.ok()) {
      open.journaled = false;
      if (!journal_failed_) {
        journal_failed_ = true;
        Warn(js.code(), js.message() + " (the fragment stays in memory only)");
      }
    }
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> FragmentStore::TakeWarnings() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  out.swap(warnings_);
  return out;
}

void FragmentStore::Warn(const std::string& code, const std::string& message) {
  if (warnings_.size() < 100) warnings_.emplace_back(code, message);
}

void FragmentStore::RemoveFromJournal(uint64_t timecode) {
  if (journal_) journal_->Remove(timecode);
}

void FragmentStore::ReleaseLocked(size_t i) {
  if (!journal_ || i >= frags_.size() || i + 1 == frags_.size()) return;  // the open one stays
  Fragment& f = frags_[i];
  if (!f.journaled || f.released || i == send_frag_) return;
  memory_bytes_ -= f.bytes.size();
  std::vector<uint8_t>().swap(f.bytes);
  f.released = true;
}

bool FragmentStore::LoadLocked(size_t i) {
  Fragment& f = frags_[i];
  if (!f.released) return true;
  Result<std::vector<uint8_t>> b = journal_->Load(f.timecode);
  if (!b.ok() || b.value().size() != f.size) {
    Warn("KVS_STORE_CORRUPT", "the fragment at " + std::to_string(f.timecode) + " could not be read back from " + o_.dir + " (" +
                                  (b.ok() ? std::string("size changed") : b.status().message()) + "); its " + std::to_string(f.frames) + " frames are dropped");
    return false;
  }
  f.bytes = std::move(b).value();
  f.released = false;
  memory_bytes_ += f.bytes.size();
  return true;
}

bool FragmentStore::EvictOldestLocked(size_t size, uint64_t pts_ms) {
  uint64_t frames = 0;
  size_t count = 0;
  uint64_t first = 0;
  size_t i = 0;
  while (!FitsLocked(size, pts_ms) && i + 1 < frags_.size()) {
    if (i == send_frag_ && send_off_ > 0) {  // on the wire now: not cut mid-fragment
      ++i;
      continue;
    }
    Fragment& f = frags_[i];
    if (count == 0) first = f.timecode;
    frames += f.frames;
    ++count;
    bytes_ -= f.size;
    if (!f.released) memory_bytes_ -= f.bytes.size();
    RemoveFromJournal(f.timecode);
    frags_.erase(frags_.begin() + static_cast<std::ptrdiff_t>(i));
    if (send_frag_ > i) --send_frag_;
  }
  if (count == 0) return false;
  stats_.frames_dropped += frames;
  Warn("KVS_STORE_EVICTED", "the store in " + o_.dir + " is full (" + std::to_string(o_.max_bytes) + " bytes): dropped the oldest " + std::to_string(count) +
                                " fragment(s), " + std::to_string(frames) + " frames from " + std::to_string(first));
  space_.notify_all();
  return FitsLocked(size, pts_ms);
}

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
  if (!FitsLocked(size, pts_ms) && !(journal_ && o_.overflow != OverflowPolicy::kBlock && EvictOldestLocked(size, pts_ms))) {
    if (o_.overflow == OverflowPolicy::kBlock) {
      return Status::Error("KVS_STORE_FULL", "the fragment store is full (" + std::to_string(bytes_) + " bytes); wait for acks or raise storeBytes");
    }
    dropping_ = true;
    ++stats_.frames_dropped;
    return PutOutcome::kDropped;
  }
  // The frame is written straight onto the open fragment's bytes (no
  // intermediate buffer); when it opens a new fragment, it is moved there.
  if (frags_.empty() || frags_.back().sealed) frags_.emplace_back();
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
    frags_.back().size = off;
    frags_.push_back(std::move(f));
  }
  Fragment& open_frag = frags_.back();
  open_frag.size = open_frag.bytes.size();
  memory_bytes_ += written;
  if (journal_) {
    // On disk before the sender can see it (the same lock).
    if (started || open_frag.frames == 0) {
      Status js = journal_->Begin(pts_ms);
      open_frag.journaled = js.ok();
      if (!js.ok() && !journal_failed_) {
        journal_failed_ = true;
        Warn(js.code(), js.message() + " (the fragment stays in memory only)");
      }
      // The previous fragment is closed and synced now: it can leave RAM.
      if (frags_.size() >= 2) ReleaseLocked(frags_.size() - 2);
    }
    if (open_frag.journaled) {
      Status js = journal_->Append(open_frag.bytes.data() + open_frag.bytes.size() - written, written, pts_ms);
      if (!js.ok()) {
        open_frag.journaled = false;
        if (!journal_failed_) {
          journal_failed_ = true;
          Warn(js.code(), js.message() + " (the fragment stays in memory only)");
        }
      }
    }
  }
  if (started || frags_.back().frames == 0) {
    frags_.back().timecode = pts_ms;
    frags_.back().first_pts = pts_ms;
    if (started) TrimLocked();  // a persisted fragment that was still open is closed now and can go
  }
  Fragment& cur = open_frag;
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

bool FragmentStore::CursorLoadedLocked() {
  while (send_frag_ < frags_.size()) {
    if (!frags_[send_frag_].released || LoadLocked(send_frag_)) return true;
    // Unreadable from disk: dropped, as a fragment KVS refuses for good.
    Fragment& f = frags_[send_frag_];
    stats_.frames_dropped += f.frames;
    bytes_ -= f.size;
    RemoveFromJournal(f.timecode);
    frags_.erase(frags_.begin() + static_cast<std::ptrdiff_t>(send_frag_));
    send_off_ = 0;
  }
  return false;
}

void FragmentStore::AdvanceLocked() {
  const size_t left = send_frag_;
  ++send_frag_;
  send_off_ = 0;
  ReleaseLocked(left);  // sent, not yet persisted: kept on disk, not in RAM
}

size_t FragmentStore::ReadChunk(std::vector<uint8_t>& out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t copied = 0;
  while (copied < max && CursorLoadedLocked()) {
    const Fragment& f = frags_[send_frag_];
    const size_t avail = f.bytes.size() - send_off_;
    const size_t n = std::min(avail, max - copied);
    out.insert(out.end(), f.bytes.begin() + static_cast<std::ptrdiff_t>(send_off_), f.bytes.begin() + static_cast<std::ptrdiff_t>(send_off_ + n));
    copied += n;
    send_off_ += n;
    // Move on only when a later fragment exists: the last one may still grow.
    if (send_off_ == f.bytes.size() && send_frag_ + 1 < frags_.size()) {
      AdvanceLocked();
    } else if (n == 0) {
      break;
    }
  }
  return copied;
}

void FragmentStore::Rewind() {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t left = send_frag_;
  send_frag_ = 0;
  send_off_ = 0;
  sent_any_ = false;
  // A persisted fragment kept only because it was the open one is not resent.
  while (send_frag_ + 1 < frags_.size() && frags_[send_frag_].persisted) ++send_frag_;
  if (left != send_frag_) ReleaseLocked(left);
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
    bytes_ -= frags_.front().size;
    if (!frags_.front().released) memory_bytes_ -= frags_.front().bytes.size();
    RemoveFromJournal(frags_.front().timecode);
    frags_.pop_front();
    ++n;
  }
  // The open fragment persisted (the end of a stream): its file goes, nothing more joins it on disk.
  if (!frags_.empty() && frags_.back().persisted && frags_.back().journaled) {
    RemoveFromJournal(frags_.back().timecode);
    frags_.back().journaled = false;
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
  while (copied < max && CursorLoadedLocked()) {
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
      AdvanceLocked();
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
  return frags_.empty() || (send_frag_ + 1 >= frags_.size() && send_off_ == frags_.back().size);
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
    bytes_ -= frags_[i].size;
    if (!frags_[i].released) memory_bytes_ -= frags_[i].bytes.size();
    RemoveFromJournal(frags_[i].timecode);
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
  s.bytes_in_memory = journal_ ? memory_bytes_ : bytes_;
  return s;
}

}  // namespace kvs
}  // namespace camwire
