#include "kvs/input_queue.h"

#include <string>

namespace camwire {
namespace kvs {

KeyframeHint KeyframeHintFromInt(int keyframe) { return keyframe < 0 ? KeyframeHint::kFromNals : keyframe == 1 ? KeyframeHint::kYes : KeyframeHint::kNo; }

Status InputQueue::PushFrame(const uint8_t* data, size_t size, uint64_t pts_ms, KeyframeHint keyframe, void* token, bool* wake) {
  *wake = false;
  std::lock_guard<std::mutex> lock(mu_);
  if (close_requested_ || abort_requested_) return Status::Error("KVS_CLOSED", "the stream is closing or closed");
  if (kind_ == InputKind::kAnnexB) return Status::Error("KVS_MIXED_INPUT", "this stream takes putAnnexB pieces; use one KvsStream per input style");
  if (have_last_pts_ && pts_ms <= last_pts_) {
    return Status::Error("KVS_TIMESTAMP_NOT_INCREASING",
                         "frame timestamp " + std::to_string(pts_ms) + " ms is not after the previous one (" + std::to_string(last_pts_) + " ms)");
  }
  kind_ = InputKind::kFrames;
  have_last_pts_ = true;
  last_pts_ = pts_ms;
  *wake = queue_.empty();  // otherwise the loop has been woken for the first one already
  QueuedInput q;
  q.data = data;
  q.size = size;
  q.pts = pts_ms;
  q.keyframe = keyframe;
  q.token = token;
  q.kind = InputKind::kFrames;
  queue_.push_back(q);
  queued_bytes_.fetch_add(size);
  return Status::Ok();
}

Status InputQueue::PushAnnexB(const uint8_t* data, size_t size, void* token, bool* wake) {
  *wake = false;
  std::lock_guard<std::mutex> lock(mu_);
  if (close_requested_ || abort_requested_) return Status::Error("KVS_CLOSED", "the stream is closing or closed");
  if (kind_ == InputKind::kFrames) return Status::Error("KVS_MIXED_INPUT", "this stream takes putFrame frames; use one KvsStream per input style");
  kind_ = InputKind::kAnnexB;
  *wake = queue_.empty();
  QueuedInput q;
  q.data = data;
  q.size = size;
  q.token = token;
  q.kind = InputKind::kAnnexB;
  queue_.push_back(q);
  queued_bytes_.fetch_add(size);
  return Status::Ok();
}

Status InputQueue::PushAudio(const uint8_t* data, size_t size, uint64_t pts_ms, void* token, bool* wake) {
  *wake = false;
  std::lock_guard<std::mutex> lock(mu_);
  if (close_requested_ || abort_requested_) return Status::Error("KVS_CLOSED", "the stream is closing or closed");
  if (have_last_audio_pts_ && pts_ms <= last_audio_pts_) {
    return Status::Error("KVS_TIMESTAMP_NOT_INCREASING",
                         "audio timestamp " + std::to_string(pts_ms) + " ms is not after the previous one (" + std::to_string(last_audio_pts_) + " ms)");
  }
  have_last_audio_pts_ = true;
  last_audio_pts_ = pts_ms;
  *wake = queue_.empty();
  QueuedInput q;
  q.data = data;
  q.size = size;
  q.pts = pts_ms;
  q.token = token;
  q.kind = InputKind::kAudio;
  queue_.push_back(q);
  queued_bytes_.fetch_add(size);
  return Status::Ok();
}

void InputQueue::SetCredentials(const Credentials& c) {
  std::lock_guard<std::mutex> lock(mu_);
  creds_ = c;
  ++creds_gen_;
  have_creds_ = true;
}

void InputQueue::RequestClose() {
  std::lock_guard<std::mutex> lock(mu_);
  close_requested_ = true;
}

void InputQueue::RequestAbort() {
  std::lock_guard<std::mutex> lock(mu_);
  abort_requested_ = true;
  close_requested_ = true;
}

InputFlags InputQueue::Flags() const {
  std::lock_guard<std::mutex> lock(mu_);
  InputFlags f;
  f.close = close_requested_;
  f.abort = abort_requested_;
  f.have_credentials = have_creds_;
  return f;
}

bool InputQueue::CloseRequested() const {
  std::lock_guard<std::mutex> lock(mu_);
  return close_requested_;
}

InputKind InputQueue::Kind() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kind_;
}

Credentials InputQueue::CurrentCredentials(uint64_t* generation) const {
  std::lock_guard<std::mutex> lock(mu_);
  *generation = creds_gen_;
  return creds_;
}

uint64_t InputQueue::CredentialsGeneration() const {
  std::lock_guard<std::mutex> lock(mu_);
  return creds_gen_;
}

InputQueue::Peek InputQueue::Front(bool budget_left, QueuedInput* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return Peek::kEmpty;
  if (!budget_left && !close_requested_) return Peek::kBudgetSpent;
  *out = queue_.front();
  return Peek::kItem;
}

void InputQueue::PopFront() {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.pop_front();
}

bool InputQueue::Pop(QueuedInput* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return false;
  *out = queue_.front();
  queue_.pop_front();
  return true;
}

bool InputQueue::ClosingAndDrained() const {
  std::lock_guard<std::mutex> lock(mu_);
  return close_requested_ && queue_.empty();
}

void InputQueue::Counts(uint64_t* frames, uint64_t* bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  *frames = queue_.size();
  *bytes = queued_bytes_.load();
}

}  // namespace kvs
}  // namespace camwire
