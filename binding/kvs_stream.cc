#include "kvs_stream.h"

#include <mutex>
#include <vector>

#include "errors.h"
#include "options.h"

namespace camwire_binding {

using camwire::kvs::Metrics;
using camwire::kvs::ProducerEvent;

using PinnedBuffer = Napi::Reference<Napi::Buffer<uint8_t>>;

struct StreamShared : std::enable_shared_from_this<StreamShared> {
  std::mutex mu;
  std::vector<ProducerEvent> events;
  std::vector<void*> releases;
  bool scheduled = false;
  bool closed = false;
  Napi::ThreadSafeFunction tsfn;
  std::weak_ptr<camwire::kvs::Producer> producer;

  // Loop thread: queue, and wake the JS thread once per batch.
  void Post(ProducerEvent* e, void* release) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) {
      // Nothing follows kClosed; a late release cannot happen (the loop releases before closing).
      return;
    }
    if (e) {
      if (e->kind == ProducerEvent::kClosed) closed = true;
      events.push_back(std::move(*e));
    }
    if (release) releases.push_back(release);
    if (!scheduled) {
      scheduled = true;
      std::shared_ptr<StreamShared> self = shared_from_this();
      tsfn.NonBlockingCall([self](Napi::Env env, Napi::Function fn) {
        if (env == nullptr || fn.IsEmpty()) return;  // the environment is going away
        self->Deliver(env, fn);
      });
    }
  }

  // JS thread: unpin released buffers, hand the events to JS.
  void Deliver(Napi::Env env, Napi::Function fn);
};

namespace {

Napi::Object MetricsObject(Napi::Env env, const Metrics& m) {
  Napi::Object o = Napi::Object::New(env);
  auto n = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  n("bytesSent", static_cast<double>(m.bytes_sent));
  n("connections", static_cast<double>(m.connections));
  n("queuedFrames", static_cast<double>(m.queued_frames));
  n("queuedBytes", static_cast<double>(m.queued_bytes));
  n("storeBytes", static_cast<double>(m.store.bytes));
  n("storeFragments", static_cast<double>(m.store.fragments));
  n("storeDurationMs", static_cast<double>(m.store.duration_ms));
  n("framesStored", static_cast<double>(m.store.frames_stored));
  n("framesDropped", static_cast<double>(m.store.frames_dropped));
  n("fragmentsPersisted", static_cast<double>(m.store.fragments_persisted));
  n("acksBuffering", static_cast<double>(m.acks_buffering));
  n("acksReceived", static_cast<double>(m.acks_received));
  n("acksPersisted", static_cast<double>(m.acks_persisted));
  n("acksError", static_cast<double>(m.acks_error));
  n("persistLatencyMs", static_cast<double>(m.last_persist_latency_ms));
  n("connectionAgeMs", static_cast<double>(m.connection_age_ms));
  o.Set("dataEndpoint", m.data_endpoint);
  return o;
}

Napi::Object EventObject(Napi::Env env, const ProducerEvent& e) {
  Napi::Object o = Napi::Object::New(env);
  switch (e.kind) {
    case ProducerEvent::kAck:
      o.Set("type", "ack");
      o.Set("ackType", camwire::kvs::AckTypeName(e.ack.type));
      if (e.ack.has_timecode) o.Set("timecode", Napi::Number::New(env, static_cast<double>(e.ack.fragment_timecode)));
      o.Set("fragmentNumber", e.ack.fragment_number);
      if (e.ack.type == camwire::kvs::AckType::kError) {
        o.Set("errorId", Napi::Number::New(env, static_cast<double>(e.ack.error_id)));
        o.Set("errorCode", e.ack.error_code);
      }
      break;
    case ProducerEvent::kError:
      o.Set("type", "error");
      o.Set("code", e.code);
      o.Set("message", e.message);
      o.Set("fatal", e.fatal);
      if (e.timecode) o.Set("timecode", Napi::Number::New(env, static_cast<double>(e.timecode)));
      break;
    case ProducerEvent::kDropped:
      o.Set("type", "dropped");
      o.Set("timecode", Napi::Number::New(env, static_cast<double>(e.timecode)));
      o.Set("frames", Napi::Number::New(env, static_cast<double>(e.frames)));
      break;
    case ProducerEvent::kConnected:
      o.Set("type", "connected");
      o.Set("connection", Napi::Number::New(env, static_cast<double>(e.connection)));
      o.Set("endpoint", e.endpoint);
      break;
    case ProducerEvent::kMetrics:
      o.Set("type", "metrics");
      o.Set("metrics", MetricsObject(env, e.metrics));
      break;
    case ProducerEvent::kClosed:
      o.Set("type", "closed");
      o.Set("code", e.code);
      o.Set("message", e.message);
      o.Set("metrics", MetricsObject(env, e.metrics));
      break;
  }
  return o;
}


}  // namespace

Napi::Function KvsProducerWrap::Define(Napi::Env env) {
  return DefineClass(env, "KvsProducer",
                     {InstanceMethod("putFrame", &KvsProducerWrap::PutFrame), InstanceMethod("putAnnexB", &KvsProducerWrap::PutAnnexB),
                      InstanceMethod("setCredentials", &KvsProducerWrap::SetCredentials), InstanceMethod("close", &KvsProducerWrap::Close),
                      InstanceMethod("abort", &KvsProducerWrap::Abort), InstanceMethod("metrics", &KvsProducerWrap::Metrics)});
}

// new KvsProducer(options, onEvents(events, queuedBytes))
KvsProducerWrap::KvsProducerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvsProducerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "new KvsProducer(options, onEvents)");
  Napi::Object js = info[0].As<Napi::Object>();
  camwire::kvs::ProducerOptions o;
  o.stream_name = Str(js, "streamName");
  o.region = Str(js, "region");
  o.control_endpoint = Str(js, "controlEndpoint");
  o.data_endpoint = Str(js, "dataEndpoint");
  o.store.fragment_duration_ms = U64(js, "fragmentDurationMs", o.store.fragment_duration_ms);
  o.store.max_bytes = U64(js, "storeBytes", o.store.max_bytes);
  o.store.max_duration_ms = U64(js, "storeDurationMs", o.store.max_duration_ms);
  o.store.overflow = Str(js, "overflow") == "block" ? camwire::kvs::OverflowPolicy::kBlock : camwire::kvs::OverflowPolicy::kDropUntilKeyframe;
  o.store.trim_on_received = Bool(js, "trimOnReceived", false);
  o.ca_file = Str(js, "caFile");
  o.ca_pem = Str(js, "caPem");
  o.verify_tls = !Bool(js, "insecureSkipTlsVerify", false);
  o.user_agent = Str(js, "userAgent", o.user_agent);
  o.connect_timeout_ms = U64(js, "connectTimeoutMs", o.connect_timeout_ms);
  o.rotate_after_ms = U64(js, "rotateAfterMs", o.rotate_after_ms);
  o.stale_after_ms = U64(js, "staleAfterMs", o.stale_after_ms);
  o.persist_timeout_ms = U64(js, "persistTimeoutMs", o.persist_timeout_ms);
  o.backoff_base_ms = U64(js, "backoffBaseMs", o.backoff_base_ms);
  o.backoff_max_ms = U64(js, "backoffMaxMs", o.backoff_max_ms);
  o.max_auth_failures = static_cast<uint32_t>(U64(js, "maxAuthFailures", o.max_auth_failures));
  o.max_fragment_errors = static_cast<uint32_t>(U64(js, "maxFragmentErrors", o.max_fragment_errors));
  o.metrics_interval_ms = U64(js, "metricsIntervalMs", o.metrics_interval_ms);
  o.annexb_start_ms = U64(js, "startMs", 0);
  if (js.Get("fps").IsNumber()) o.annexb_fps = js.Get("fps").As<Napi::Number>().DoubleValue();

  shared_ = std::make_shared<StreamShared>();
  std::shared_ptr<StreamShared> shared = shared_;
  shared_->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "camwire-kvs", 0, 1);
  auto result = camwire::kvs::Producer::Create(
      o, [shared](ProducerEvent e) { shared->Post(&e, nullptr); },
      [shared](void* token, size_t) { shared->Post(nullptr, token); });
  if (!result.ok()) {
    shared_->tsfn.Release();
    throw StatusError(env, result.status());
  }
  producer_ = std::move(result).value();
  shared_->producer = producer_;
}

KvsProducerWrap::~KvsProducerWrap() {
  if (producer_) producer_->Abort();
}

void StreamShared::Deliver(Napi::Env env, Napi::Function fn) {
  std::vector<ProducerEvent> batch;
  std::vector<void*> unpin;
  {
    std::lock_guard<std::mutex> lock(mu);
    batch.swap(events);
    unpin.swap(releases);
    scheduled = false;
  }
  for (void* r : unpin) delete static_cast<PinnedBuffer*>(r);
  uint64_t queued = 0;
  if (auto p = producer.lock()) queued = p->QueuedBytes();
  bool last = false;
  for (const auto& ev : batch) last |= ev.kind == ProducerEvent::kClosed;
  // The stream keeps the process alive until it has closed.
  if (last) tsfn.Release();
  try {
    Napi::Array arr = Napi::Array::New(env, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) arr.Set(static_cast<uint32_t>(i), EventObject(env, batch[i]));
    fn.Call({arr, Napi::Number::New(env, static_cast<double>(queued))});
  } catch (const Napi::Error& e) {
    // A listener threw: hand it back to Node as an uncaught exception (as an
    // EventEmitter's would). During environment teardown JS cannot run at all.
    try {
      e.ThrowAsJavaScriptException();
    } catch (...) {
    }
  }
}

Napi::Value KvsProducerWrap::PutFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "putFrame(buffer, ptsMs, keyframe)");
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  const double pts = info[1].As<Napi::Number>().DoubleValue();
  if (!(pts >= 0 && pts < 9007199254740992.0)) throw Napi::RangeError::New(env, "pts must be a non-negative integer of milliseconds");
  const int keyframe = info[2].IsBoolean() ? (info[2].As<Napi::Boolean>().Value() ? 1 : 0) : -1;
  auto* pin = new PinnedBuffer(Napi::Persistent(buf));
  camwire::Status s = producer_->EnqueueFrame(buf.Data(), buf.Length(), static_cast<uint64_t>(pts), keyframe, pin);
  if (!s.ok()) {
    delete pin;
    throw StatusError(env, s);
  }
  return Napi::Number::New(env, static_cast<double>(producer_->QueuedBytes()));
}

Napi::Value KvsProducerWrap::PutAnnexB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "putAnnexB(buffer)");
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  auto* pin = new PinnedBuffer(Napi::Persistent(buf));
  camwire::Status s = producer_->EnqueueAnnexB(buf.Data(), buf.Length(), pin);
  if (!s.ok()) {
    delete pin;
    throw StatusError(env, s);
  }
  return Napi::Number::New(env, static_cast<double>(producer_->QueuedBytes()));
}

// setCredentials(accessKeyId, secretAccessKey, sessionToken | undefined, expirationEpochMs | 0)
Napi::Value KvsProducerWrap::SetCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "setCredentials(id, secret, token, expirationMs)");
  camwire::kvs::Credentials c;
  c.keys.access_key_id = info[0].As<Napi::String>().Utf8Value();
  c.keys.secret_access_key = info[1].As<Napi::String>().Utf8Value();
  if (info[2].IsString()) c.keys.session_token = info[2].As<Napi::String>().Utf8Value();
  if (info[3].IsNumber()) c.expiration_ms = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  producer_->SetCredentials(c);
  return env.Undefined();
}

Napi::Value KvsProducerWrap::Close(const Napi::CallbackInfo& info) {
  producer_->Close();
  return info.Env().Undefined();
}

Napi::Value KvsProducerWrap::Abort(const Napi::CallbackInfo& info) {
  producer_->Abort();
  return info.Env().Undefined();
}

Napi::Value KvsProducerWrap::Metrics(const Napi::CallbackInfo& info) {
  return MetricsObject(info.Env(), producer_->GetMetrics());
}

Napi::Value KvsTransport(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("curl", camwire::kvs::CurlVersion());
  o.Set("ssl", camwire::kvs::CurlSslVersion());
  return o;
}

}  // namespace camwire_binding
