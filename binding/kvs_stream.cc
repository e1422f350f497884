#include "kvs_stream.h"

#include <chrono>
#include <deque>
#include <utility>

#include "errors.h"
#include "options.h"

namespace camwire_binding {

using camwire::kvs::Metrics;
using camwire::kvs::ProducerEvent;

using ProducerQueue = EventQueue<ProducerEvent>;

namespace {

// The one place a pin crosses the core's API: the Producer takes an opaque
// token with each frame and hands it back when it no longer reads the frame.
struct PinToken {
  static void* Give(Pin pin) { return pin.release(); }
  static Pin Take(void* token) { return Pin(static_cast<PinnedBuffer*>(token)); }
};

// How long environment teardown waits for an aborted stream to hand back its
// frames (the loop does that on its next turn, well within this).
constexpr std::chrono::milliseconds kTeardownWait(10000);

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
  n("framesRecovered", static_cast<double>(m.store.frames_recovered));
  n("audioFramesStored", static_cast<double>(m.store.audio_frames_stored));
  n("audioFramesDropped", static_cast<double>(m.store.audio_frames_dropped));
  n("storeBytesInMemory", static_cast<double>(m.store.bytes_in_memory));
  n("fragmentsPersisted", static_cast<double>(m.store.fragments_persisted));
  n("acksBuffering", static_cast<double>(m.acks_buffering));
  n("acksReceived", static_cast<double>(m.acks_received));
  n("acksPersisted", static_cast<double>(m.acks_persisted));
  n("acksError", static_cast<double>(m.acks_error));
  n("persistLatencyMs", static_cast<double>(m.last_persist_latency_ms));
  n("connectionAgeMs", static_cast<double>(m.connection_age_ms));
  n("clockOffsetMs", static_cast<double>(m.clock_offset_ms));
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
                      InstanceMethod("putAudio", &KvsProducerWrap::PutAudio), InstanceMethod("setCredentials", &KvsProducerWrap::SetCredentials),
                      InstanceMethod("close", &KvsProducerWrap::Close), InstanceMethod("abort", &KvsProducerWrap::Abort),
                      InstanceMethod("metrics", &KvsProducerWrap::Metrics)});
}

// new KvsProducer(options, onEvents(events, queuedBytes))
KvsProducerWrap::KvsProducerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvsProducerWrap>(info), residency_(info.Env(), this) {
  Napi::Env env = info.Env();
  Args args(info, "new KvsProducer(options, onEvents)", 2);
  Napi::Object js = args.Object(0, "options");
  Napi::Function on_events = args.Function(1, "onEvents");
  camwire::kvs::ProducerOptions o;
  o.stream_name = Str(js, "streamName");
  o.region = Str(js, "region");
  o.control_endpoint = Str(js, "controlEndpoint");
  o.data_endpoint = Str(js, "dataEndpoint");
  o.store.dir = Str(js, "storeDir");
  const std::string audio = Str(js, "audioCodec");
  using A = camwire::kvs::ProducerOptions::AudioCodec;
  o.audio = audio == "aac" ? A::kAac : audio == "alaw" ? A::kAlaw : audio == "mulaw" ? A::kMulaw : A::kNone;
  o.audio_rate = U32(js, "audioRate", 0);
  o.audio_channels = U32(js, "audioChannels", 0);
  Napi::Value asc = js.Get("audioSpecificConfig");
  if (asc.IsBuffer()) {
    Napi::Buffer<uint8_t> b = asc.As<Napi::Buffer<uint8_t>>();
    o.audio_config.assign(b.Data(), b.Data() + b.Length());
  }
  const std::string codec = Str(js, "codec", "auto");
  o.codec = codec == "h265" ? camwire::kvs::CodecChoice::kH265 : codec == "h264" ? camwire::kvs::CodecChoice::kH264 : camwire::kvs::CodecChoice::kAuto;
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
  if (residency_.torn_down()) throw Napi::Error::New(env, "new KvsProducer: the environment is shutting down");

  // The batch goes to JS with the bytes still queued at delivery time.
  auto producer = std::make_shared<std::weak_ptr<camwire::kvs::Producer>>();
  queue_ = ProducerQueue::Create(env, on_events, "camwire-kvs", true, [producer](Napi::Env e, Napi::Function fn, std::deque<ProducerEvent>& pending) {
    std::deque<ProducerEvent> batch;
    batch.swap(pending);
    uint64_t queued = 0;
    if (auto p = producer->lock()) queued = p->QueuedBytes();
    Napi::Array arr = Napi::Array::New(e, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) arr.Set(static_cast<uint32_t>(i), EventObject(e, batch[i]));
    fn.Call({arr, Napi::Number::New(e, static_cast<double>(queued))});
  });
  std::shared_ptr<ProducerQueue> queue = queue_;
  auto result = camwire::kvs::Producer::Create(
      o,
      // Nothing follows kClosed (the loop releases every frame before it).
      [queue](ProducerEvent e) {
        const bool last = e.kind == ProducerEvent::kClosed;
        queue->Post(std::move(e), last);
      },
      [queue](void* token, size_t) { queue->Unpin(PinToken::Take(token)); });
  if (!result.ok()) {
    queue_->Close();
    throw StatusError(env, result.status());
  }
  producer_ = std::move(result).value();
  *producer = producer_;
}

KvsProducerWrap::~KvsProducerWrap() {
  if (producer_) producer_->Abort();
}

// Environment teardown: stop at once, and wait until the loop has handed back
// every frame (their Buffers go with the environment) before letting go.
void KvsProducerWrap::Teardown() {
  if (producer_) {
    producer_->Abort();
    queue_->WaitForLast(kTeardownWait);
  }
  if (queue_) queue_->Close();
}

Napi::Value KvsProducerWrap::Enqueue(const Napi::CallbackInfo& info, Napi::Buffer<uint8_t> buf, bool annexb, uint64_t pts, int keyframe, bool audio) {
  Napi::Env env = info.Env();
  Pin pin(new PinnedBuffer(buf));
  const uint8_t* data = pin->data();
  const size_t size = pin->size();
  void* token = PinToken::Give(std::move(pin));
  camwire::Status s = audio    ? producer_->EnqueueAudio(data, size, pts, token)
                      : annexb ? producer_->EnqueueAnnexB(data, size, token)
                               : producer_->EnqueueFrame(data, size, pts, keyframe, token);
  if (!s.ok()) {
    PinToken::Take(token);  // refused: the producer never held it
    throw StatusError(env, s);
  }
  return Napi::Number::New(env, static_cast<double>(producer_->QueuedBytes()));
}

// putFrame(buffer, ptsMs, keyframe | undefined) -> bytes queued
Napi::Value KvsProducerWrap::PutFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "putFrame(buffer, ptsMs, keyframe)", 3);
  Napi::Buffer<uint8_t> buf = args.Buffer(0, "buffer");
  const double pts = args.Number(1, "ptsMs").DoubleValue();
  const int keyframe = args.OptionalBoolean(2, "keyframe");
  if (!(pts >= 0 && pts < 9007199254740992.0)) throw Napi::RangeError::New(env, "pts must be a non-negative integer of milliseconds");
  return Enqueue(info, buf, false, static_cast<uint64_t>(pts), keyframe);
}

// putAudio(buffer, ptsMs) -> bytes queued
Napi::Value KvsProducerWrap::PutAudio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "putAudio(buffer, ptsMs)", 2);
  Napi::Buffer<uint8_t> buf = args.Buffer(0, "buffer");
  const double pts = args.Number(1, "ptsMs").DoubleValue();
  if (!(pts >= 0 && pts < 9007199254740992.0)) throw Napi::RangeError::New(env, "pts must be a non-negative integer of milliseconds");
  return Enqueue(info, buf, false, static_cast<uint64_t>(pts), -1, true);
}

// putAnnexB(buffer) -> bytes queued
Napi::Value KvsProducerWrap::PutAnnexB(const Napi::CallbackInfo& info) {
  Args args(info, "putAnnexB(buffer)", 1);
  return Enqueue(info, args.Buffer(0, "buffer"), true, 0, -1);
}

// setCredentials(accessKeyId, secretAccessKey, sessionToken | undefined, expirationEpochMs | 0)
Napi::Value KvsProducerWrap::SetCredentials(const Napi::CallbackInfo& info) {
  Args args(info, "setCredentials(accessKeyId, secretAccessKey, sessionToken, expirationMs)", 4);
  camwire::kvs::Credentials c;
  c.keys.access_key_id = args.String(0, "accessKeyId");
  c.keys.secret_access_key = args.String(1, "secretAccessKey");
  args.OptionalString(2, "sessionToken", &c.keys.session_token);
  c.expiration_ms = static_cast<uint64_t>(args.Number(3, "expirationMs").Int64Value());
  producer_->SetCredentials(c);
  return info.Env().Undefined();
}

// close(): flush, wait for PERSISTED, then the closed event.
Napi::Value KvsProducerWrap::Close(const Napi::CallbackInfo& info) {
  producer_->Close();
  return info.Env().Undefined();
}

// abort(): stop at once, then the closed event.
Napi::Value KvsProducerWrap::Abort(const Napi::CallbackInfo& info) {
  producer_->Abort();
  return info.Env().Undefined();
}

// metrics() -> the current counters
Napi::Value KvsProducerWrap::Metrics(const Napi::CallbackInfo& info) { return MetricsObject(info.Env(), producer_->GetMetrics()); }

// kvsTransport() -> { curl, ssl }
Napi::Value KvsTransport(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("curl", camwire::kvs::CurlVersion());
  o.Set("ssl", camwire::kvs::CurlSslVersion());
  return o;
}

}  // namespace camwire_binding
