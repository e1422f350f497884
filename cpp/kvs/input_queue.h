// The producer's input side, shared between the caller's thread (Enqueue*,
// SetCredentials, Close, Abort) and the network loop: queued frames and
// Annex-B pieces (borrowed memory), the close/abort requests and the
// current signing credentials, all under one mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "common/status.h"
#include "kvs/producer.h"

namespace camwire {
namespace kvs {

// What a stream is fed with; fixed by the first Enqueue*.
enum class InputKind { kNone, kFrames, kAnnexB, kAudio };  // kAudio: an item only (either stream style takes audio)

// putFrame's keyframe argument (1 yes, 0 no, -1 from the NAL types).
enum class KeyframeHint { kNo, kYes, kFromNals };
KeyframeHint KeyframeHintFromInt(int keyframe);

struct QueuedInput {
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint64_t pts = 0;                                 // frames only
  KeyframeHint keyframe = KeyframeHint::kFromNals;  // frames only
  void* token = nullptr;
  InputKind kind = InputKind::kFrames;  // kFrames or kAnnexB
};

// The requests the loop acts on, read together.
struct InputFlags {
  bool close = false;
  bool abort = false;
  bool have_credentials = false;
};

class InputQueue {
 public:
  // Each sets *wake when the loop must be woken (the queue was empty).
  Status PushFrame(const uint8_t* data, size_t size, uint64_t pts_ms, KeyframeHint keyframe, void* token, bool* wake);
  Status PushAnnexB(const uint8_t* data, size_t size, void* token, bool* wake);
  // One audio frame (raw AAC, ADTS AAC or G.711 bytes); its pts increases strictly.
  Status PushAudio(const uint8_t* data, size_t size, uint64_t pts_ms, void* token, bool* wake);
  void SetCredentials(const Credentials& c);
  void RequestClose();
  void RequestAbort();  // closes as well

  InputFlags Flags() const;
  bool CloseRequested() const;
  InputKind Kind() const;
  Credentials CurrentCredentials(uint64_t* generation) const;
  uint64_t CredentialsGeneration() const;

  enum class Peek { kItem, kEmpty, kBudgetSpent };
  // The oldest item, left queued. With no budget left, kBudgetSpent unless a
  // close was requested (closing drains everything).
  Peek Front(bool budget_left, QueuedInput* out) const;
  void PopFront();
  // Takes the oldest item; false when empty.
  bool Pop(QueuedInput* out);
  // The close was requested and everything queued has been taken.
  bool ClosingAndDrained() const;

  // An item taken off the queue is no longer counted.
  void Released(size_t bytes) { queued_bytes_.fetch_sub(bytes); }
  uint64_t QueuedBytes() const { return queued_bytes_.load(); }
  void Counts(uint64_t* frames, uint64_t* bytes) const;

 private:
  mutable std::mutex mu_;
  std::deque<QueuedInput> queue_;
  std::atomic<uint64_t> queued_bytes_{0};
  bool close_requested_ = false;
  bool abort_requested_ = false;
  Credentials creds_;
  uint64_t creds_gen_ = 0;
  bool have_creds_ = false;
  bool have_last_pts_ = false;
  uint64_t last_pts_ = 0;
  bool have_last_audio_pts_ = false;
  uint64_t last_audio_pts_ = 0;
  InputKind kind_ = InputKind::kNone;
};

}  // namespace kvs
}  // namespace camwire
