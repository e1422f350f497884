// The producer's public face and the shared network loop. The pieces live
// next door: input_queue (the caller's side), packager (queued input into the
// FragmentStore), session and connection (the connection state machine, acks),
// putmedia_client (libcurl), putmedia_errors (what failures mean),
// producer_metrics, and small helpers (clock, http_text, trace).
#include "kvs/producer.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <thread>
#include <utility>

#include "kvs/clock.h"
#include "kvs/fragment_store.h"
#include "kvs/h264.h"
#include "kvs/http_text.h"
#include "kvs/input_queue.h"
#include "kvs/packager.h"
#include "kvs/producer_events.h"
#include "kvs/producer_metrics.h"
#include "kvs/putmedia_client.h"
#include "kvs/session.h"

namespace camwire {
namespace kvs {

// ---- one producer -----------------------------------------------------------

struct Producer::Impl {
  Impl(const ProducerOptions& options, EventSink e, ReleaseSink r)
      : o(options),
        events(std::move(e)),
        store(o.store),
        drops(events),
        packager(o, store, queue, events, drops, std::move(r)),
        session(o, store, queue, packager, drops, metrics, events) {}

  // Declared in the order they depend on each other (each refers to those above it).
  const ProducerOptions o;
  EventEmitter events;
  InputQueue queue;         // shared with the caller's thread
  MetricsRecorder metrics;  // read from any thread
  // Loop thread only.
  FragmentStore store;
  DropRun drops;
  Packager packager;
  Session session;
};

// ---- the shared network loop ------------------------------------------------

class Loop {
 public:
  static Loop& Get() {
    // Lives for the whole process (never destroyed: its thread may be parked
    // in poll when the process exits).
    static Loop* loop = new Loop();
    return *loop;
  }

  void Add(std::shared_ptr<Producer> p) {
    std::lock_guard<std::mutex> lock(mu_);
    producers_.push_back(std::move(p));
    if (!running_) {
      if (thread_.joinable()) thread_.join();
      running_ = true;
      thread_ = std::thread([this] { Run(); });
    }
    curl_multi_wakeup(multi_.get());
  }

  void Wake() { curl_multi_wakeup(multi_.get()); }

 private:
  Loop() {
    EnsureCurlGlobalInit();
    multi_.reset(curl_multi_init());
  }
  void Run();

  std::mutex mu_;
  std::vector<std::shared_ptr<Producer>> producers_;
  bool running_ = false;
  std::thread thread_;
  CurlMultiPtr multi_;
};

void Loop::Run() {
  CURLM* multi = multi_.get();
  for (;;) {
    std::vector<std::shared_ptr<Producer>> ps;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (producers_.empty()) {
        running_ = false;
        return;
      }
      ps = producers_;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    CURLMsg* msg;
    int left = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != nullptr) {
      if (msg->msg != CURLMSG_DONE) continue;
      HttpExchange* x = HttpExchange::FromEasy(msg->easy_handle);
      if (x && x->handler()) x->handler()->OnDone(msg->data.result);
    }
    const uint64_t now = SteadyMs();
    uint64_t deadline = now + 1000;
    std::vector<Producer*> done;
    for (auto& p : ps) {
      bool finished = false;
      deadline = std::min(deadline, p->impl_->session.Step(multi, now, &finished));
      if (finished) done.push_back(p.get());
    }
    if (!done.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      producers_.erase(std::remove_if(producers_.begin(), producers_.end(),
                                      [&](const std::shared_ptr<Producer>& p) { return std::find(done.begin(), done.end(), p.get()) != done.end(); }),
                       producers_.end());
    }
    ps.clear();
    const uint64_t after = SteadyMs();
    const int timeout = deadline <= after ? 0 : static_cast<int>(std::min<uint64_t>(deadline - after, 1000));
    curl_multi_poll(multi, nullptr, 0, timeout, nullptr);
  }
}

// ---- Producer -----------------------------------------------------------------

Producer::Producer(const ProducerOptions& options, EventSink events, ReleaseSink release) : impl_(new Impl(options, std::move(events), std::move(release))) {}

Producer::~Producer() = default;

Result<std::shared_ptr<Producer>> Producer::Create(const ProducerOptions& o, EventSink events, ReleaseSink release) {
  if (o.stream_name.empty() || o.stream_name.size() > 256) return Status::Error("KVS_BAD_OPTIONS", "streamName must be 1-256 characters");
  for (char c : o.stream_name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return Status::Error("KVS_BAD_OPTIONS", "streamName may hold only letters, digits, '_', '.' and '-'");
    }
  }
  if (o.region.empty()) return Status::Error("KVS_BAD_OPTIONS", "region is required");
  if (o.data_endpoint.empty() && o.control_endpoint.empty()) return Status::Error("KVS_BAD_OPTIONS", "an endpoint is required");
  for (const std::string* url : {&o.data_endpoint, &o.control_endpoint}) {
    if (url->empty()) continue;
    Result<Url> u = ParseUrl(*url);
    if (!u.ok()) return u.status();
  }
  if (o.store.max_bytes < (1u << 20)) return Status::Error("KVS_BAD_OPTIONS", "storeBytes must be at least 1 MiB");
  if (o.store.fragment_duration_ms < 1000 || o.store.fragment_duration_ms > 10000) {
    return Status::Error("KVS_BAD_OPTIONS", "fragmentDuration must be 1000-10000 ms (KVS refuses fragments over 10 s)");
  }
  if (!(o.annexb_fps > 0 && o.annexb_fps <= 1000)) return Status::Error("KVS_BAD_OPTIONS", "fps must be in (0, 1000]");
  if (o.audio != ProducerOptions::AudioCodec::kNone && o.audio_config.empty()) {
    const bool g711 = o.audio != ProducerOptions::AudioCodec::kAac;
    if ((g711 || o.audio_rate) && (o.audio_rate < 1000 || o.audio_rate > 192000 || o.audio_channels < 1 || o.audio_channels > 8)) {
      return Status::Error("KVS_BAD_OPTIONS", "audio needs a rate of 1000-192000 Hz and 1-8 channels");
    }
  }
  std::shared_ptr<Producer> p(new Producer(o, std::move(events), std::move(release)));
  Status js = p->impl_->store.OpenJournal();
  if (!js.ok()) return js;
  Loop::Get().Add(p);
  return p;
}

Status Producer::EnqueueFrame(const uint8_t* data, size_t size, uint64_t pts_ms, int keyframe, void* token) {
  if (!h264::StartsWithStartCode(data, size)) {
    return Status::Error("KVS_NOT_ANNEXB", "putFrame takes one H.264 access unit in Annex-B form (starting with 00 00 01 or 00 00 00 01)");
  }
  bool wake = false;
  Status s = impl_->queue.PushFrame(data, size, pts_ms, KeyframeHintFromInt(keyframe), token, &wake);
  if (wake) Loop::Get().Wake();
  return s;
}

Status Producer::EnqueueAnnexB(const uint8_t* data, size_t size, void* token) {
  bool wake = false;
  Status s = impl_->queue.PushAnnexB(data, size, token, &wake);
  if (wake) Loop::Get().Wake();
  return s;
}

Status Producer::EnqueueAudio(const uint8_t* data, size_t size, uint64_t pts_ms, void* token) {
  if (impl_->o.audio == ProducerOptions::AudioCodec::kNone)
    return Status::Error("KVS_BAD_OPTIONS", "putAudio needs the stream's audio option (codec aac, alaw or mulaw)");
  if (size == 0 || size > (1u << 20)) return Status::Error("KVS_BAD_OPTIONS", "an audio frame is 1 byte to 1 MiB");
  bool wake = false;
  Status s = impl_->queue.PushAudio(data, size, pts_ms, token, &wake);
  if (wake) Loop::Get().Wake();
  return s;
}

void Producer::SetCredentials(const Credentials& c) {
  impl_->queue.SetCredentials(c);
  Loop::Get().Wake();
}

void Producer::Close() {
  impl_->queue.RequestClose();
  Loop::Get().Wake();
}

void Producer::Abort() {
  impl_->queue.RequestAbort();
  Loop::Get().Wake();
}

Metrics Producer::GetMetrics() const { return impl_->session.Snapshot(); }

uint64_t Producer::QueuedBytes() const { return impl_->queue.QueuedBytes(); }

}  // namespace kvs
}  // namespace camwire
