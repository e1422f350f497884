// One connection of a producer's session: a GetDataEndpoint exchange, or a
// PutMedia exchange with what the session tracks about it (the MKV header
// still to send, how the body is to end, the fragments sent and the acks
// that came back). It feeds the body from the FragmentStore and hands acks
// to the session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvs/ack_parser.h"
#include "kvs/fragment_store.h"
#include "kvs/putmedia_client.h"

namespace camwire {
namespace kvs {

class Session;
class MetricsRecorder;
class Packager;

enum class ConnectionPurpose { kGetDataEndpoint, kPutMedia };
// How the session wants a PutMedia body to end.
enum class Ending { kNone, kRotate, kClose };

class Connection : public HttpExchange::Handler {
 public:
  Connection(ConnectionPurpose purpose, Session& session, FragmentStore& store, MetricsRecorder& metrics, const Packager& packager);

  bool put_media() const { return purpose_ == ConnectionPurpose::kPutMedia; }
  // Every fragment this connection started sending is covered by a durable ack.
  bool AllDurable() const { return !have_started || (have_persisted && last_persisted >= last_started); }
  // Forgets the send times of fragments up to `timecode` (durably acked);
  // true, with *sent_ms, when `timecode` itself was among them.
  bool TakeSentAt(uint64_t timecode, uint64_t* sent_ms);

  // HttpExchange::Handler
  void OnDone(CURLcode result) override;
  void OnConnected() override;
  size_t OnStreamBody(const char* data, size_t len) override;
  size_t OnStreamRead(char* buf, size_t max) override;

  std::unique_ptr<HttpExchange> http;
  std::vector<uint8_t> header;  // the MKV stream header, sent first
  size_t header_off = 0;
  bool paused = false;
  bool body_done = false;
  uint64_t body_done_ms = 0;
  Ending ending = Ending::kNone;
  uint64_t started_ms = 0;
  uint64_t started_wall = 0;
  uint64_t creds_expiration_ms = 0;
  uint64_t creds_gen = 0;
  std::deque<std::pair<uint64_t, uint64_t>> awaiting_buffering;  // fragment timecode, sent at
  std::deque<std::pair<uint64_t, uint64_t>> sent_at;             // for the persist latency
  bool have_started = false;
  uint64_t last_started = 0;
  bool have_persisted = false;
  uint64_t last_persisted = 0;
  // Set from a callback to end the transfer; acted on when curl reports it done.
  std::string abort_code;
  std::string abort_message;
  bool abort_fatal = false;
  bool ack_error = false;

 private:
  ConnectionPurpose purpose_;
  Session& session_;
  FragmentStore& store_;
  MetricsRecorder& metrics_;
  const Packager& packager_;
  AckParser parser_;
};

}  // namespace kvs
}  // namespace camwire
