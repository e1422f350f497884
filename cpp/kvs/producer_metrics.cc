#include "kvs/producer_metrics.h"

namespace camwire {
namespace kvs {

void MetricsRecorder::AddBytesSent(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  m_.bytes_sent += n;
}

void MetricsRecorder::CountAck(AckType type) {
  std::lock_guard<std::mutex> lock(mu_);
  if (type == AckType::kBuffering) ++m_.acks_buffering;
  if (type == AckType::kReceived) ++m_.acks_received;
  if (type == AckType::kPersisted) ++m_.acks_persisted;
  if (type == AckType::kError) ++m_.acks_error;
}

void MetricsRecorder::SetPersistLatency(uint64_t ms) {
  std::lock_guard<std::mutex> lock(mu_);
  m_.last_persist_latency_ms = ms;
}

void MetricsRecorder::SetClockOffset(int64_t ms) {
  std::lock_guard<std::mutex> lock(mu_);
  m_.clock_offset_ms = ms;
}

uint64_t MetricsRecorder::OpenedConnection(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  ++m_.connections;
  m_.data_endpoint = endpoint;
  return m_.connections;
}

void MetricsRecorder::LatestConnection(uint64_t* number, std::string* endpoint) const {
  std::lock_guard<std::mutex> lock(mu_);
  *number = m_.connections;
  *endpoint = m_.data_endpoint;
}

Metrics MetricsRecorder::Snapshot(const FragmentStore& store, const InputQueue& queue) const {
  Metrics m;
  {
    std::lock_guard<std::mutex> lock(mu_);
    m = m_;
  }
  m.store = store.Stats();
  queue.Counts(&m.queued_frames, &m.queued_bytes);
  return m;
}

}  // namespace kvs
}  // namespace camwire
