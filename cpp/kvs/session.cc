#include "kvs/session.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>
#include <vector>

#include "kvs/clock.h"
#include "kvs/http_text.h"
#include "kvs/mkv.h"
#include "kvs/putmedia_client.h"
#include "kvs/trace.h"

namespace camwire {
namespace kvs {

Session::Session(const ProducerOptions& o, FragmentStore& store, InputQueue& queue, Packager& packager, DropRun& drops, MetricsRecorder& metrics,
                 EventEmitter& events)
    : o_(o),
      store_(store),
      queue_(queue),
      packager_(packager),
      drops_(drops),
      metrics_(metrics),
      events_(events),
      backoff_(o.backoff_base_ms, o.backoff_max_ms),
      rng_(std::random_device{}()) {}

// ---- retries and failures ----------------------------------------------------------

uint64_t Session::Backoff() { return backoff_.Next(rng_); }

void Session::ScheduleRetry(uint64_t now) {
  state_ = SessionState::kBackoff;
  retry_at_ = now + Backoff();
  CAMWIRE_KVS_TRACE("retry in %llu ms", static_cast<unsigned long long>(retry_at_ - now));
}

void Session::Fail(const std::string& code, const std::string& message) {
  events_.Error(code, message, true);
  state_ = SessionState::kFailed;
}

void Session::Apply(const FailureVerdict& v, uint64_t now) {
  if (v.forget_endpoint) data_endpoint_.clear();
  if (v.fatal) return Fail(v.code, v.message);
  events_.Error(v.code, v.message, false);
  ScheduleRetry(now);
}

TransferFailure Session::FailureOf(CURLcode result) const {
  TransferFailure f;
  f.put_media = conn_->put_media();
  f.result = result;
  f.status = conn_->http->status();
  f.body = conn_->http->response_body();
  f.error_type = conn_->http->error_type();
  f.curl_error = conn_->http->ErrorText(result);
  f.has_server_clock = conn_->http->server_clock_offset(&f.server_clock_offset_ms);
  return f;
}

uint64_t Session::ServiceWallMs() const {
  const int64_t t = static_cast<int64_t>(WallMs()) + clock_offset_ms_;
  return t > 0 ? static_cast<uint64_t>(t) : 0;
}

namespace {
// "15 min 3 s", "2 h 5 min", "800 ms".
std::string Span(int64_t ms) {
  const uint64_t a = static_cast<uint64_t>(ms < 0 ? -ms : ms);
  if (a < 1000) return std::to_string(a) + " ms";
  const uint64_t s = (a + 500) / 1000;
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}
}  // namespace

bool Session::CorrectClock(const TransferFailure& f) {
  if (!IsClockSkewFailure(f) || !f.has_server_clock) return false;
  const int64_t measured = f.server_clock_offset_ms;
  // Corrected already and refused with about the same offset: the clock is not the problem.
  if (clock_corrected_ && std::llabs(measured - clock_offset_ms_) < 2000) return false;
  clock_offset_ms_ = measured;
  clock_corrected_ = true;
  metrics_.SetClockOffset(measured);
  CAMWIRE_KVS_TRACE("clock skew: service clock %lld ms from ours", static_cast<long long>(measured));
  if (!skew_warned_) {
    skew_warned_ = true;
    events_.Error("KVS_CLOCK_SKEW",
                  "the local clock is " + Span(measured) + (measured > 0 ? " behind" : " ahead of") +
                      " the service's (measured from its Date header after it refused the signing time); signing with the corrected time from now on",
                  false);
  }
  state_ = SessionState::kIdle;  // retried at once, with the corrected time
  return true;
}

// ---- opening connections -------------------------------------------------------------

void Session::StartEndpointRequest(CURLM* multi) {
  Result<Url> u = ParseUrl(o_.control_endpoint);
  if (!u.ok()) return Fail(u.status().code(), u.status().message());
  uint64_t gen = 0;
  const Credentials cr = queue_.CurrentCredentials(&gen);
  std::unique_ptr<Connection> c(new Connection(ConnectionPurpose::kGetDataEndpoint, *this, store_, metrics_, packager_));
  Result<std::unique_ptr<HttpExchange>> x = NewGetDataEndpointRequest(o_, u.value(), cr, ServiceWallMs(), c.get());
  if (!x.ok()) return Fail(x.status().code(), x.status().message());
  c->http = std::move(x).value();
  c->creds_gen = gen;
  conn_ = std::move(c);
  state_ = SessionState::kEndpoint;
  conn_->http->Attach(multi);
}

void Session::StartPutMedia(CURLM* multi) {
  const std::string endpoint = o_.data_endpoint.empty() ? data_endpoint_ : o_.data_endpoint;
  Result<Url> u = ParseUrl(endpoint);
  if (!u.ok()) return Fail(u.status().code(), "data endpoint: " + u.status().message());
  uint64_t gen = 0;
  const Credentials cr = queue_.CurrentCredentials(&gen);
  std::unique_ptr<Connection> c(new Connection(ConnectionPurpose::kPutMedia, *this, store_, metrics_, packager_));
  c->creds_gen = gen;
  c->creds_expiration_ms = cr.expiration_ms;
  c->started_wall = ServiceWallMs();
  std::array<uint8_t, 16> uid{};
  for (auto& b : uid) b = static_cast<uint8_t>(rng_());
  // Fragments recovered from disk go first, with the track they were made with
  // (the new input's parameter sets may not have come yet).
  mkv::VideoTrack track = packager_.track();
  mkv::AudioTrack audio;
  bool has_audio = packager_.audio_track() != nullptr;
  if (has_audio) audio = *packager_.audio_track();
  if (!packager_.have_track()) store_.RecoveredTrack(&track, &audio, &has_audio);
  c->header = mkv::StreamHeader(track, uid, o_.user_agent, has_audio ? &audio : nullptr);
  store_.Rewind();
  Result<std::unique_ptr<HttpExchange>> x = NewPutMediaRequest(o_, u.value(), cr, ServiceWallMs(), c.get());
  if (!x.ok()) return Fail(x.status().code(), x.status().message());
  c->http = std::move(x).value();
  conn_ = std::move(c);
  state_ = SessionState::kStreaming;
  const uint64_t number = metrics_.OpenedConnection(endpoint);
  CAMWIRE_KVS_TRACE("PutMedia connection %llu to %s: %zu fragment(s) not yet persisted", static_cast<unsigned long long>(number), endpoint.c_str(),
                    store_.Unpersisted());
  conn_->http->Attach(multi);
}

// ---- what the connection reports ------------------------------------------------------

void Session::OnConnected() {
  failures_.connect_failures = 0;
  ProducerEvent e;
  e.kind = ProducerEvent::kConnected;
  metrics_.LatestConnection(&e.connection, &e.endpoint);
  events_.Emit(std::move(e));
}

void Session::OnAck(Connection* c, const Ack& a) {
  const uint64_t now = SteadyMs();
  if (a.type == AckType::kIdle) return;
  metrics_.CountAck(a.type);
  if (a.has_timecode) {
    while (!c->awaiting_buffering.empty() && c->awaiting_buffering.front().first <= a.fragment_timecode) c->awaiting_buffering.pop_front();
  }
  const bool durable = a.type == AckType::kPersisted || (o_.store.trim_on_received && a.type == AckType::kReceived);
  if (durable && a.has_timecode) {
    store_.OnAck(a);
    c->have_persisted = true;
    c->last_persisted = std::max(c->last_persisted, a.fragment_timecode);
    backoff_.Reset();
    failures_.auth_failures = 0;
    fragment_errors_.erase(fragment_errors_.begin(), fragment_errors_.upper_bound(a.fragment_timecode));
    uint64_t sent_ms = 0;
    if (c->TakeSentAt(a.fragment_timecode, &sent_ms)) metrics_.SetPersistLatency(Elapsed(now, sent_ms));
  } else if (a.type != AckType::kError && a.has_timecode) {
    store_.OnAck(a);
  }
  ProducerEvent e;
  e.kind = ProducerEvent::kAck;
  e.ack = a;
  events_.Emit(e);
  if (a.type != AckType::kError) return;
  c->ack_error = true;
  const uint32_t count = ++fragment_errors_[a.fragment_timecode];
  std::string msg = AckErrorMessage(a);
  if (StreamLevelAckError(a.error_id)) {
    c->abort_fatal = true;
    c->abort_code = "KVS_ACK_ERROR";
    c->abort_message = msg + " (a stream-level error; the stream stops)";
    return;
  }
  if (count >= o_.max_fragment_errors && a.has_timecode) {
    const size_t frames = store_.DropFragment(a.fragment_timecode);
    msg += "; refused " + std::to_string(count) + " times, that fragment (" + std::to_string(frames) + " frames) is dropped";
    drops_.Note(a.fragment_timecode, frames);
    fragment_errors_.erase(a.fragment_timecode);
  } else {
    msg += "; reconnecting and re-sending from the first fragment not yet persisted";
  }
  events_.Error("KVS_ACK_ERROR", msg, false, a.fragment_timecode);
  // The service ends the connection after an ERROR; do not wait for it.
  c->abort_code = "KVS_ACK_ERROR";
}

void Session::OnDone(CURLcode result) {
  const uint64_t now = SteadyMs();
  if (!conn_) return;
  if (conn_->put_media()) return PutMediaDone(result, now);
  EndpointDone(result, now);
}

void Session::EndpointDone(CURLcode result, uint64_t now) {
  const TransferFailure f = FailureOf(result);
  DropConn();
  if (result == CURLE_OK && f.status == 200) {
    const std::string ep = JsonStringField(f.body, "DataEndpoint");
    if (ParseUrl(ep).ok()) {
      data_endpoint_ = ep;
      state_ = SessionState::kIdle;
      return;
    }
    events_.Error("KVS_BAD_RESPONSE", "GetDataEndpoint answered without a DataEndpoint URL", false);
    return ScheduleRetry(now);
  }
  if (CorrectClock(f)) return;
  Apply(ClassifyFailure(f, &failures_, o_.max_auth_failures, !o_.data_endpoint.empty()), now);
}

void Session::PutMediaDone(CURLcode result, uint64_t now) {
  Connection* c = conn_.get();
  const long status = c->http->status();
  const bool graceful = c->body_done && (result == CURLE_OK) && status == 200;
  CAMWIRE_KVS_TRACE("PutMedia ended: curl %d, HTTP %ld, body ended by us %d (ending %d), ack error %d, abort '%s', %s", static_cast<int>(result), status,
                    c->body_done ? 1 : 0, static_cast<int>(c->ending), c->ack_error ? 1 : 0, c->abort_code.c_str(), c->http->curl_error());
  const bool ack_error = c->ack_error;
  const std::string abort_code = c->abort_code;
  const std::string abort_message = c->abort_message;
  const bool abort_fatal = c->abort_fatal;
  const TransferFailure f = FailureOf(result);
  const bool had_persisted = c->have_persisted;
  const bool carried_unacked = !c->AllDurable();
  const size_t unacked = c->sent_at.size();  // the fragments no durable ack covered
  DropConn();
  drops_.Flush();
  if (abort_fatal) return Fail(abort_code, abort_message);
  if (!abort_code.empty() && !ack_error) {
    events_.Error(abort_code, abort_message, false);
    return ScheduleRetry(now);
  }
  if (ack_error) return ScheduleRetry(now);
  if (graceful || (result == CURLE_OK && status == 200)) {
    // The body was ended by us (rotation or close), or the service ended the session.
    if (!graceful) {
      events_.Error("KVS_CONNECTION_ENDED", "the service ended the PutMedia session", false);
      return ScheduleRetry(now);
    }
    // An answer that leaves what was sent unacknowledged is a failure like any
    // other: re-sent after the backoff, never at once (an endpoint that answers
    // 200 without acks would otherwise be hammered with the same fragments).
    if (carried_unacked) {
      events_.Error(
          "KVS_CONNECTION_ENDED",
          "the PutMedia session ended with " + std::to_string(unacked) + " fragment(s) sent and not acknowledged as PERSISTED; re-sending after a backoff",
          false);
      return ScheduleRetry(now);
    }
    state_ = SessionState::kIdle;
    if (had_persisted) backoff_.Reset();
    return;
  }
  if (CorrectClock(f)) return;
  Apply(ClassifyFailure(f, &failures_, o_.max_auth_failures, !o_.data_endpoint.empty()), now);
}

// ---- the state machine ------------------------------------------------------------------

uint64_t Session::Step(CURLM* multi, uint64_t now, bool* finished) {
  *finished = false;
  const InputFlags flags = queue_.Flags();
  if (flags.abort) {
    DropConn();
    packager_.ReleaseAll();
    EmitClosed("KVS_ABORTED", "the stream was aborted; fragments not yet persisted were discarded");
    *finished = true;
    return now + 1000;
  }
  if (state_ == SessionState::kFailed) {
    packager_.ReleaseAll();
    if (queue_.CloseRequested()) {
      EmitClosed("KVS_FAILED", "the stream stopped after a fatal error");
      *finished = true;
    }
    return now + 1000;
  }
  const bool more_input = packager_.Drain();
  uint64_t deadline = more_input ? now : now + 1000;
  const bool closing = queue_.CloseRequested();
  if (closing && close_deadline_ == 0) close_deadline_ = now + o_.persist_timeout_ms;

  const bool flushed = packager_.flushed();
  const bool have_track = packager_.have_track() || store_.HasRecoveredTrack();
  const bool has_data = have_track && !store_.AllRead();
  const bool unpersisted = store_.Unpersisted() > 0;
  if (closing && flushed && (!have_track || !unpersisted) && !conn_) {
    EmitClosed("", "");
    *finished = true;
    return deadline;
  }
  if (closing && flushed && now >= close_deadline_) {
    DropConn();
    EmitClosed("KVS_PERSIST_TIMEOUT",
               std::to_string(store_.Unpersisted()) + " fragment(s) were not PERSISTED within " + std::to_string(o_.persist_timeout_ms) + " ms of close()");
    *finished = true;
    return deadline;
  }
  if (closing) deadline = std::min(deadline, close_deadline_);

  if (state_ == SessionState::kBackoff && now >= retry_at_) state_ = SessionState::kIdle;
  if (state_ == SessionState::kBackoff) deadline = std::min(deadline, retry_at_);

  if (state_ == SessionState::kIdle && !conn_ && flags.have_credentials && have_track && (has_data || (closing && unpersisted))) {
    if (o_.data_endpoint.empty() && data_endpoint_.empty()) {
      StartEndpointRequest(multi);
    } else {
      StartPutMedia(multi);
    }
  }

  if (conn_ && conn_->put_media() && !StepConnection(now, closing, &deadline)) return now;

  if (o_.metrics_interval_ms) {
    if (next_metrics_ == 0) next_metrics_ = now + o_.metrics_interval_ms;
    if (now >= next_metrics_) {
      next_metrics_ = now + o_.metrics_interval_ms;
      ProducerEvent e;
      e.kind = ProducerEvent::kMetrics;
      e.metrics = Snapshot();
      if (conn_ && conn_->put_media()) e.metrics.connection_age_ms = Elapsed(now, conn_->started_ms);
      events_.Emit(std::move(e));
    }
    deadline = std::min(deadline, next_metrics_);
  }
  return deadline;
}

bool Session::StepConnection(uint64_t now, bool closing, uint64_t* deadline) {
  Connection* c = conn_.get();
  const bool flushed = packager_.flushed();
  if (c->ending == Ending::kNone) {
    const uint64_t age = Elapsed(now, c->started_ms);
    const uint64_t wall = ServiceWallMs();  // expirations are the service's times
    // Rotate before the signing credentials expire (the service ends the
    // session then), once newer ones have been handed over.
    const uint64_t exp = c->creds_expiration_ms;
    const uint64_t lifetime = exp > c->started_wall ? exp - c->started_wall : 0;
    const uint64_t margin = std::min<uint64_t>(10000, lifetime / 3);
    const bool creds_expiring = exp != 0 && wall + margin >= exp && queue_.CredentialsGeneration() != c->creds_gen;
    if (closing && flushed) {
      CAMWIRE_KVS_TRACE("closing: ending the body once everything is read");
      c->ending = Ending::kClose;
    } else if (age >= o_.rotate_after_ms || creds_expiring) {
      CAMWIRE_KVS_TRACE("rotating: connection age %llu ms, credentials expiring %d", static_cast<unsigned long long>(age), creds_expiring ? 1 : 0);
      c->ending = Ending::kRotate;
    } else {
      *deadline = std::min(*deadline, c->started_ms + o_.rotate_after_ms);
      if (exp) *deadline = std::min(*deadline, now + (exp - std::min(exp, wall + margin)));
    }
  }
  if (c->ending == Ending::kRotate && closing && flushed) c->ending = Ending::kClose;
  // Staleness: a fragment went out and no BUFFERING ack came back in time.
  if (!c->awaiting_buffering.empty()) {
    const uint64_t since = c->awaiting_buffering.front().second;
    if (Elapsed(now, since) >= o_.stale_after_ms) {
      DropConn();
      events_.Error("KVS_CONNECTION_STALE",
                    "no BUFFERING ack " + std::to_string(Elapsed(now, since)) + " ms after a fragment was sent; reconnecting and re-sending", false);
      ScheduleRetry(now);
      return false;
    }
    *deadline = std::min(*deadline, since + o_.stale_after_ms);
  }
  // Rotation: once the body ended on a fragment boundary and what was sent is durable, move on.
  if (c->body_done && c->ending == Ending::kRotate) {
    if (c->AllDurable()) {
      DropConn();
      state_ = SessionState::kIdle;
      return false;  // the next turn opens the new connection
    }
    if (Elapsed(now, c->body_done_ms) >= std::min<uint64_t>(o_.persist_timeout_ms, 5000)) {
      const size_t unacked = c->sent_at.size();
      DropConn();
      events_.Error("KVS_CONNECTION_ENDED",
                    "rotating with " + std::to_string(unacked) + " fragment(s) not acknowledged as PERSISTED within 5 s; re-sending after a backoff", false);
      ScheduleRetry(now);
      return false;
    }
    *deadline = std::min(*deadline, c->body_done_ms + 5000);
  }
  if (c->body_done && c->ending == Ending::kClose && store_.Unpersisted() == 0) {
    DropConn();
    state_ = SessionState::kIdle;
    return false;
  }
  if (c->paused && (!store_.AllRead() || c->ending != Ending::kNone)) {
    c->paused = false;
    c->http->Resume();
  }
  return true;
}

void Session::EmitClosed(const std::string& code, const std::string& message) {
  drops_.Flush();
  ProducerEvent e;
  e.kind = ProducerEvent::kClosed;
  e.code = code;
  e.message = message;
  e.metrics = Snapshot();
  state_ = SessionState::kClosed;
  events_.Emit(std::move(e));
}

}  // namespace kvs
}  // namespace camwire
