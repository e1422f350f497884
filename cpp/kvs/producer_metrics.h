// The producer's counters, written by the network loop and read from any
// thread (GetMetrics, metrics events).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "kvs/ack_parser.h"
#include "kvs/fragment_store.h"
#include "kvs/input_queue.h"
#include "kvs/producer.h"

namespace camwire {
namespace kvs {

class MetricsRecorder {
 public:
  void AddBytesSent(uint64_t n);
  void CountAck(AckType type);
  void SetPersistLatency(uint64_t ms);
  void SetClockOffset(int64_t ms);
  // A PutMedia connection is being opened to `endpoint`; returns its number.
  uint64_t OpenedConnection(const std::string& endpoint);
  // The latest connection's number and endpoint.
  void LatestConnection(uint64_t* number, std::string* endpoint) const;
  // The counters with the store's stats and the queue's size, read live.
  Metrics Snapshot(const FragmentStore& store, const InputQueue& queue) const;

 private:
  mutable std::mutex mu_;
  Metrics m_;  // counters only (store stats and queue sizes are read live)
};

}  // namespace kvs
}  // namespace camwire
