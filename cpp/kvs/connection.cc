#include "kvs/connection.h"

#include <cstring>

#include "kvs/clock.h"
#include "kvs/packager.h"
#include "kvs/producer_metrics.h"
#include "kvs/session.h"

namespace camwire {
namespace kvs {

Connection::Connection(ConnectionPurpose purpose, Session& session, FragmentStore& store, MetricsRecorder& metrics, const Packager& packager)
    : started_ms(SteadyMs()), started_wall(WallMs()), purpose_(purpose), session_(session), store_(store), metrics_(metrics), packager_(packager) {}

bool Connection::TakeSentAt(uint64_t timecode, uint64_t* sent_ms) {
  bool found = false;
  while (!sent_at.empty() && sent_at.front().first <= timecode) {
    if (sent_at.front().first == timecode) {
      *sent_ms = sent_at.front().second;
      found = true;
    }
    sent_at.pop_front();
  }
  return found;
}

void Connection::OnDone(CURLcode result) {
  Session& s = session_;  // the session may let go of this connection
  s.OnDone(result);
}

void Connection::OnConnected() { session_.OnConnected(); }

size_t Connection::OnStreamBody(const char* data, size_t len) {
  std::vector<Ack> acks;
  Status s = parser_.Feed(reinterpret_cast<const uint8_t*>(data), len, acks);
  for (const Ack& a : acks) session_.OnAck(this, a);
  if (!s.ok() && abort_code.empty()) {
    abort_code = "KVS_BAD_ACK";
    abort_message = "the PutMedia acknowledgement stream is malformed: " + s.message();
  }
  return abort_code.empty() ? len : 0;  // 0 ends the transfer
}

size_t Connection::OnStreamRead(char* buf, size_t max) {
  if (!abort_code.empty()) return CURL_READFUNC_ABORT;
  if (header_off < header.size()) {
    const size_t k = std::min(max, header.size() - header_off);
    std::memcpy(buf, header.data() + header_off, k);
    header_off += k;
    return k;
  }
  bool boundary = false;
  std::vector<uint64_t> started;
  const size_t k = store_.ReadInto(reinterpret_cast<uint8_t*>(buf), max, ending == Ending::kRotate, &boundary, &started);
  const uint64_t now = SteadyMs();
  for (uint64_t tc : started) {
    awaiting_buffering.emplace_back(tc, now);
    sent_at.emplace_back(tc, now);
    if (sent_at.size() > 4096) sent_at.pop_front();
    have_started = true;
    last_started = tc;
  }
  if (k > 0) {
    metrics_.AddBytesSent(k);
    return k;
  }
  const bool end = (ending == Ending::kRotate && boundary) || (ending == Ending::kClose && packager_.flushed() && store_.AllRead());
  if (end) {
    body_done = true;
    body_done_ms = now;
    return 0;  // the terminating chunk
  }
  paused = true;
  return CURL_READFUNC_PAUSE;
}

}  // namespace kvs
}  // namespace camwire
