// The producer's content store: packaged fragments (MKV clusters) kept until
// KVS says PERSISTED (or RECEIVED when the stream has no retention), with a
// send cursor the network thread reads from and rewinds after a dropped
// connection or an ERROR ack. Bounded in bytes and duration; when full, the
// incoming frames are dropped up to the next key frame (and counted), or the
// caller is told to wait. Thread-safe: one producer, one sender, any acker.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "kvs/ack_parser.h"
#include "kvs/fragment_journal.h"
#include "kvs/mkv.h"

namespace camwire {
namespace kvs {

enum class OverflowPolicy { kDropUntilKeyframe, kBlock };

struct StoreOptions {
  size_t max_bytes = 64u << 20;
  uint64_t max_duration_ms = 120000;
  uint64_t fragment_duration_ms = 2000;
  OverflowPolicy overflow = OverflowPolicy::kDropUntilKeyframe;
  // Trim on RECEIVED instead of PERSISTED (a stream with retention 0).
  bool trim_on_received = false;
  // A directory: every fragment not yet durable is also on disk (a
  // FragmentJournal), written before it is sent; closed fragments leave RAM
  // (read back when sent), max_bytes bounds the disk, and when it is full
  // the oldest fragments are dropped (a warning), not the newest frames. A
  // producer started again on the same directory sends what it finds first.
  std::string dir;
};

enum class PutOutcome { kStored, kDropped };

struct StoreStats {
  size_t bytes = 0;
  size_t fragments = 0;
  uint64_t duration_ms = 0;
  uint64_t frames_stored = 0;
  uint64_t frames_dropped = 0;
  uint64_t fragments_persisted = 0;
  uint64_t bytes_stored_total = 0;
  uint64_t frames_recovered = 0;  // found on disk when the producer started
  uint64_t audio_frames_stored = 0;
  uint64_t audio_frames_dropped = 0;  // before the first video key frame, too late for its cluster, or the store full
  uint64_t bytes_in_memory = 0;       // with a directory: what RAM holds of `bytes`
};

class FragmentStore {
 public:
  explicit FragmentStore(const StoreOptions& options);

  // With options.dir: opens the journal and takes what it holds, oldest
  // first, ahead of anything new. Its warnings (a torn record dropped) and a
  // summary of what was recovered come out of TakeWarnings().
  Status OpenJournal();
  // The stream header's tracks, kept on disk with the fragments.
  void SetTrack(const mkv::VideoTrack& track, const mkv::AudioTrack* audio);
  // The tracks the recovered fragments were made with (none: false); *has_audio when they had audio.
  bool RecoveredTrack(mkv::VideoTrack* track, mkv::AudioTrack* audio = nullptr, bool* has_audio = nullptr) const;
  bool HasRecoveredTrack() const;
  // The last frame time (ms) of the fragments recovered from disk (0: none):
  // a stream started again after them times its frames later.
  uint64_t RecoveredLastPts() const;
  // Problems the store rode out (journal writes, evictions, corrupt files),
  // for the caller to report as warnings: code and message.
  std::vector<std::pair<std::string, std::string>> TakeWarnings();

  // Adds one frame (AVCC payload). kDropped: the store was full (or a drop
  // run is in progress until the next key frame). With OverflowPolicy::kBlock
  // a full store is the error KVS_STORE_FULL and the frame is not taken.
  Result<PutOutcome> PutFrame(const uint8_t* frame, size_t size, uint64_t pts_ms, bool keyframe);
  // The same for one access unit of an Annex-B buffer (converted to AVCC
  // while it is written into the store, with no intermediate copy).
  Result<PutOutcome> PutAccessUnit(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts_ms);
  // One audio frame (track 2) into the open fragment. Not taken (counted as
  // dropped) when no fragment is open, the frame lies before it, or the
  // store is full or dropping up to a key frame.
  Status PutAudio(const uint8_t* frame, size_t size, uint64_t pts_ms, bool* taken);
  // Whether a frame of this size would fit now.
  bool Fits(size_t size, uint64_t pts_ms) const;
  // Waits until a frame of `size` bytes fits, up to timeout_ms; false on timeout.
  bool WaitForSpace(size_t size, uint64_t timeout_ms);

  // Sender side: copies up to `max` bytes at the send cursor into out.
  // Returns the number of bytes copied (0 when nothing new is available).
  size_t ReadChunk(std::vector<uint8_t>& out, size_t max);
  // The same into a raw buffer (curl's). With stop_at_boundary, reading stops
  // at the end of the fragment being sent (once it is complete) and
  // *at_boundary tells that the cursor sits on a fragment start: a clean
  // place to end a connection. Timecodes of fragments whose first byte was
  // copied by this call are appended to started (when given).
  size_t ReadInto(uint8_t* out, size_t max, bool stop_at_boundary, bool* at_boundary, std::vector<uint64_t>* started);
  // True when every stored byte has been read by the sender.
  bool AllRead() const;
  // Fragments not yet acknowledged as durable (PERSISTED, or RECEIVED).
  size_t Unpersisted() const;
  // Throws away the fragment with this cluster timecode (one the service
  // refuses for good); the sender skips it. Returns its frame count.
  size_t DropFragment(uint64_t timecode);
  // After a dropped connection or an ERROR ack: resend from the first
  // fragment not yet trimmed (the caller sends a fresh stream header first).
  void Rewind();

  // Applies an ack: marks the fragment with that cluster timecode and trims
  // everything up to it on PERSISTED (or RECEIVED, see options). Returns
  // false when no stored fragment has that timecode.
  bool OnAck(const Ack& ack);

  // Cluster timecodes of fragments the send cursor has moved past (sent whole).
  std::vector<uint64_t> SentFragments() const;

  StoreStats Stats() const;

 private:
  struct Fragment {
    uint64_t timecode = 0;  // the cluster timecode (what acks carry)
    uint64_t first_pts = 0;
    uint64_t last_pts = 0;
    uint64_t frames = 0;
    std::vector<uint8_t> bytes;
    bool persisted = false;
    bool sealed = false;     // complete (recovered from disk): nothing joins it
    bool journaled = false;  // every byte is in the journal
    bool released = false;   // bytes are on disk only
    size_t size = 0;         // bytes, whether in RAM or not
  };
  // With a journal: frees the bytes of closed fragments away from the send cursor / loads one back.
  void ReleaseLocked(size_t index);
  // The fragment at the send cursor is in RAM (unreadable ones are dropped); false: none.
  bool CursorLoadedLocked();
  void AdvanceLocked();
  bool LoadLocked(size_t index);
  void Warn(const std::string& code, const std::string& message);
  // Disk mode, store full: drops the oldest fragments not being sent until size fits.
  bool EvictOldestLocked(size_t size, uint64_t pts_ms);
  void RemoveFromJournal(uint64_t timecode);
  template <typename Writer>
  Result<PutOutcome> PutLocked(size_t size, uint64_t pts_ms, bool keyframe, Writer write);
  void TrimLocked();
  bool FitsLocked(size_t size, uint64_t pts_ms) const;
  uint64_t DurationLocked() const;

  StoreOptions o_;
  mutable std::mutex mu_;
  std::condition_variable space_;
  std::deque<Fragment> frags_;
  mkv::Fragmenter fragmenter_;
  size_t bytes_ = 0;
  bool dropping_ = false;
  // Send cursor: fragment index in frags_ and byte offset within it.
  size_t send_frag_ = 0;
  size_t send_off_ = 0;
  bool sent_any_ = false;  // since the last Rewind (a connection's first fragment never stops at its start)
  StoreStats stats_;
  std::unique_ptr<FragmentJournal> journal_;
  bool journal_failed_ = false;  // a write failed: warned once, the fragment stays in RAM
  bool have_recovered_track_ = false;
  uint64_t recovered_last_pts_ = 0;
  mkv::VideoTrack recovered_track_;
  bool recovered_has_audio_ = false;
  mkv::AudioTrack recovered_audio_;
  size_t memory_bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> warnings_;
};

}  // namespace kvs
}  // namespace camwire
