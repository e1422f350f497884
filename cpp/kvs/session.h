// A producer's connection state machine (network loop thread only): when to
// ask GetDataEndpoint, open, rotate, close or drop a PutMedia connection;
// what acks and failed exchanges mean for the store and the stream (retry
// with backoff, drop a fragment, stop); when the stream is closed.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "common/backoff.h"
#include "kvs/ack_parser.h"
#include "kvs/connection.h"
#include "kvs/fragment_store.h"
#include "kvs/input_queue.h"
#include "kvs/packager.h"
#include "kvs/producer.h"
#include "kvs/producer_events.h"
#include "kvs/producer_metrics.h"
#include "kvs/putmedia_errors.h"

namespace camwire {
namespace kvs {

enum class SessionState { kIdle, kBackoff, kEndpoint, kStreaming, kClosed, kFailed };

class Session {
 public:
  Session(const ProducerOptions& o, FragmentStore& store, InputQueue& queue, Packager& packager, DropRun& drops, MetricsRecorder& metrics,
          EventEmitter& events);

  // Once per loop turn; returns the next deadline (steady ms). *finished: the
  // stream is closed and the loop lets go of it.
  uint64_t Step(CURLM* multi, uint64_t now, bool* finished);
  Metrics Snapshot() const { return metrics_.Snapshot(store_, queue_); }

  // From the current connection.
  void OnDone(CURLcode result);
  void OnConnected();
  void OnAck(Connection* c, const Ack& a);

 private:
  uint64_t Backoff();
  void ScheduleRetry(uint64_t now);
  void Fail(const std::string& code, const std::string& message);
  void Apply(const FailureVerdict& v, uint64_t now);
  void StartEndpointRequest(CURLM* multi);
  void StartPutMedia(CURLM* multi);
  void DropConn() { conn_.reset(); }
  void EndpointDone(CURLcode result, uint64_t now);
  void PutMediaDone(CURLcode result, uint64_t now);
  // The PutMedia connection's part of a turn; false when the turn ends here.
  bool StepConnection(uint64_t now, bool closing, uint64_t* deadline);
  void EmitClosed(const std::string& code, const std::string& message);
  TransferFailure FailureOf(CURLcode result) const;
  // A refused signing time (403 "Signature expired" / "not yet current"):
  // measures the offset from the answer's Date, keeps it for every later
  // signature, warns once and retries at once. false: not a skew, or the
  // correction was already made and did not help (the usual 403 handling).
  bool CorrectClock(const TransferFailure& f);
  // The wall clock as the service sees it: for signing and expiry checks.
  uint64_t ServiceWallMs() const;

  const ProducerOptions& o_;
  FragmentStore& store_;
  InputQueue& queue_;
  Packager& packager_;
  DropRun& drops_;
  MetricsRecorder& metrics_;
  EventEmitter& events_;

  SessionState state_ = SessionState::kIdle;
  std::unique_ptr<Connection> conn_;
  uint64_t retry_at_ = 0;
  FullJitterBackoff backoff_;
  FailureCounters failures_;
  std::map<uint64_t, uint32_t> fragment_errors_;
  std::string data_endpoint_;  // cached
  uint64_t next_metrics_ = 0;
  uint64_t close_deadline_ = 0;
  std::mt19937_64 rng_;
  int64_t clock_offset_ms_ = 0;
  bool clock_corrected_ = false;
  bool skew_warned_ = false;
};

}  // namespace kvs
}  // namespace camwire
