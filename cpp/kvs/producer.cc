#include "kvs/producer.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <thread>

#include "kvs/annexb_stream.h"
#include "kvs/mkv.h"

namespace camwire {
namespace kvs {

namespace {

// CAMWIRE_DEBUG containing "kvs": one stderr line per connection decision
// (opened, ended and why, rotation, retry), for field debugging.
bool TraceOn() {
  static const bool on = [] {
    const char* v = std::getenv("CAMWIRE_DEBUG");
    return v != nullptr && std::strstr(v, "kvs") != nullptr;
  }();
  return on;
}

// Milliseconds from `then` to `now`, 0 when `then` is later: the loop reads
// the clock once per turn, and a connection opened or a fragment sent within
// that turn carries a later time (an unsigned now - then wrapped around and
// made a fresh connection look 584 million years old, so it was rotated at once).
uint64_t Elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

#define CAMWIRE_KVS_TRACE(...)                          \
  do {                                                  \
    if (TraceOn()) {                                    \
      std::fprintf(stderr, "camwire kvs: " __VA_ARGS__); \
      std::fputc('\n', stderr);                          \
    }                                                   \
  } while (0)

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string AmzDate(uint64_t wall_ms) {
  const std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

struct Url {
  std::string scheme;     // http or https
  std::string authority;  // host[:port], the port only when it is not the scheme's default
  std::string base;       // scheme://authority
};

Result<Url> ParseUrl(const std::string& s) {
  Url u;
  const size_t p = s.find("://");
  if (p == std::string::npos) return Status::Error("KVS_BAD_OPTIONS", "endpoint \"" + s + "\" is not an http(s) URL");
  u.scheme = s.substr(0, p);
  if (u.scheme != "http" && u.scheme != "https") return Status::Error("KVS_BAD_OPTIONS", "endpoint \"" + s + "\" is not an http(s) URL");
  std::string rest = s.substr(p + 3);
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  if (rest.empty() || rest.find('@') != std::string::npos) return Status::Error("KVS_BAD_OPTIONS", "endpoint \"" + s + "\" has no host");
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    if ((u.scheme == "https" && port == "443") || (u.scheme == "http" && port == "80")) rest = rest.substr(0, colon);
  }
  u.authority = rest;
  u.base = u.scheme + "://" + rest;
  return u;
}

// The value of a top-level string field in a small JSON document (the
// GetDataEndpoint answer, error bodies). Bounded by the document's size.
std::string JsonStringField(const std::string& doc, const std::string& key) {
  const std::string needle = "\"" + key + "\"";
  size_t p = doc.find(needle);
  if (p == std::string::npos) return "";
  p += needle.size();
  while (p < doc.size() && (doc[p] == ' ' || doc[p] == '\t' || doc[p] == '\n' || doc[p] == '\r')) ++p;
  if (p >= doc.size() || doc[p] != ':') return "";
  ++p;
  while (p < doc.size() && (doc[p] == ' ' || doc[p] == '\t' || doc[p] == '\n' || doc[p] == '\r')) ++p;
  if (p >= doc.size() || doc[p] != '"') return "";
  std::string out;
  for (++p; p < doc.size(); ++p) {
    const char c = doc[p];
    if (c == '"') return out;
    if (c == '\\' && p + 1 < doc.size()) {
      const char e = doc[++p];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;  // \" \\ \/ and the rest verbatim
      continue;
    }
    out += c;
  }
  return "";  // unterminated
}

// Ack errors that are about the stream or its configuration, not one fragment:
// retrying cannot help.
bool StreamLevelAckError(uint64_t id) {
  return id == 4008 || id == 4010 || id == 4012 || (id >= 4500 && id <= 4507);
}

std::once_flag g_curl_init;

}  // namespace

std::string CurlVersion() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return curl_version_info(CURLVERSION_NOW)->version;
}

std::string CurlSslVersion() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const char* s = curl_version_info(CURLVERSION_NOW)->ssl_version;
  return s ? s : "";
}

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
    curl_multi_wakeup(multi_);
  }

  void Wake() { curl_multi_wakeup(multi_); }
  CURLM* multi() { return multi_; }

 private:
  Loop() {
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
  }
  void Run();

  std::mutex mu_;
  std::vector<std::shared_ptr<Producer>> producers_;
  bool running_ = false;
  std::thread thread_;
  CURLM* multi_ = nullptr;
};

// ---- one producer -----------------------------------------------------------

struct Producer::Impl {
  enum class State { kIdle, kBackoff, kEndpoint, kStreaming, kClosed, kFailed };
  enum class Ending { kNone, kRotate, kClose };

  struct Queued {
    const uint8_t* data;
    size_t size;
    uint64_t pts;
    int keyframe;
    void* token;
    bool annexb;
    uint64_t enqueued_ms;
  };

  // One HTTP exchange (GetDataEndpoint or PutMedia).
  struct Conn {
    Impl* owner = nullptr;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    bool put_media = false;
    std::string request_body;   // GetDataEndpoint
    std::string response_body;  // GetDataEndpoint, or a PutMedia error body (bounded)
    std::string error_type;     // x-amzn-ErrorType
    long status = 0;
    bool headers_done = false;
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
    AckParser parser;
    std::deque<std::pair<uint64_t, uint64_t>> awaiting_buffering;  // fragment timecode, sent at
    std::deque<std::pair<uint64_t, uint64_t>> sent_at;             // for the persist latency
    bool have_started = false;
    uint64_t last_started = 0;
    bool have_persisted = false;
    uint64_t last_persisted = 0;
    // Every fragment this connection started sending is covered by a durable ack.
    bool AllDurable() const { return !have_started || (have_persisted && last_persisted >= last_started); }
    // Set from a callback to end the transfer; acted on when curl reports it done.
    std::string abort_code;
    std::string abort_message;
    bool abort_fatal = false;
    bool ack_error = false;
    char errbuf[CURL_ERROR_SIZE] = {0};
  };

  Impl(const ProducerOptions& o, EventSink e, ReleaseSink r)
      : o(o), events(std::move(e)), release(std::move(r)), store(o.store), rng(std::random_device{}()) {}
  ~Impl() {
    // Normally the loop has ended the connection before it lets go of the producer.
    if (conn) {
      curl_easy_cleanup(conn->easy);
      curl_slist_free_all(conn->headers);
    }
  }

  ProducerOptions o;
  EventSink events;
  ReleaseSink release;

  // Shared with the caller's thread.
  mutable std::mutex qmu;
  std::deque<Queued> queue;
  std::atomic<uint64_t> queued_bytes{0};
  bool close_requested = false;
  bool abort_requested = false;
  Credentials creds;
  uint64_t creds_gen = 0;
  bool have_creds = false;
  bool have_last_pts = false;
  uint64_t last_pts = 0;
  int input_kind = 0;  // 1 frames, 2 Annex-B stream
  mutable std::mutex mmu;
  Metrics metrics;     // counters (store stats are read live)

  // Loop thread only.
  FragmentStore store;
  h264::AnnexBStream annexb;
  uint64_t annexb_index = 0;
  uint64_t annexb_start = 0;
  bool annexb_finished = false;
  bool have_track = false;
  mkv::VideoTrack track;
  State state = State::kIdle;
  std::unique_ptr<Conn> conn;
  uint64_t retry_at = 0;
  uint32_t attempts = 0;
  uint32_t auth_failures = 0;
  uint32_t connect_failures = 0;
  std::map<uint64_t, uint32_t> fragment_errors;
  std::string data_endpoint;  // cached
  uint64_t next_metrics = 0;
  uint64_t close_deadline = 0;
  bool flushed = false;
  uint64_t drop_run_first = 0;
  uint64_t drop_run_frames = 0;
  uint64_t drop_run_started = 0;
  std::mt19937_64 rng;

  void Emit(ProducerEvent e) {
    if (events) events(std::move(e));
  }
  void EmitError(const std::string& code, const std::string& message, bool fatal, uint64_t timecode = 0) {
    ProducerEvent e;
    e.kind = ProducerEvent::kError;
    e.code = code;
    e.message = message;
    e.fatal = fatal;
    e.timecode = timecode;
    Emit(std::move(e));
  }
  Metrics Snapshot() const {
    Metrics m;
    {
      std::lock_guard<std::mutex> lock(mmu);
      m = metrics;
    }
    m.store = store.Stats();
    std::lock_guard<std::mutex> lock(qmu);
    m.queued_frames = queue.size();
    m.queued_bytes = queued_bytes.load();
    return m;
  }

  // ---- packaging (loop thread) ----
  bool SetTrack(const uint8_t* sps, size_t sps_size, const uint8_t* pps, size_t pps_size) {
    Result<std::vector<uint8_t>> avcc = o.codec_private.empty() ? h264::BuildAvcC(sps, sps_size, pps, pps_size)
                                                                 : Result<std::vector<uint8_t>>(o.codec_private);
    if (!avcc.ok()) {
      EmitError(avcc.status().code(), avcc.status().message(), false);
      return false;
    }
    Result<h264::SpsInfo> info = h264::ParseSps(sps, sps_size);
    if (!info.ok()) {
      EmitError(info.status().code(), info.status().message(), false);
      return false;
    }
    track.codec_private = std::move(avcc).value();
    track.width = info.value().width;
    track.height = info.value().height;
    have_track = true;
    return true;
  }

  void NoteDropped(uint64_t pts, uint64_t frames) {
    if (drop_run_frames == 0) {
      drop_run_first = pts;
      drop_run_started = SteadyMs();
    }
    drop_run_frames += frames;
  }
  void FlushDropped() {
    if (drop_run_frames == 0) return;
    ProducerEvent e;
    e.kind = ProducerEvent::kDropped;
    e.timecode = drop_run_first;
    e.frames = drop_run_frames;
    drop_run_frames = 0;
    Emit(std::move(e));
  }

  // Puts one access unit into the store. false: the store is full and the
  // policy is to block (the caller keeps the frame queued).
  bool Package(const uint8_t* data, const h264::AccessUnit& au, uint64_t pts) {
    if (!have_track) {
      const h264::NalUnit* sps = nullptr;
      const h264::NalUnit* pps = nullptr;
      for (const auto& n : au.nals) {
        if (n.type == h264::kSps && !sps) sps = &n;
        if (n.type == h264::kPps && !pps) pps = &n;
      }
      if (sps && pps) SetTrack(data + sps->offset, sps->size, data + pps->offset, pps->size);
      if (!have_track || !au.keyframe) {
        // Nothing can be sent before a key frame with its parameter sets.
        NoteDropped(pts, 1);
        return true;
      }
    }
    Result<PutOutcome> r = store.PutAccessUnit(data, au, pts);
    if (!r.ok()) {
      if (r.status().code() == "KVS_STORE_FULL") return false;
      FlushDropped();
      EmitError(r.status().code(), r.status().message(), false, pts);
      return true;
    }
    if (r.value() == PutOutcome::kDropped) {
      NoteDropped(pts, 1);
    } else {
      FlushDropped();
    }
    return true;
  }

  void ReleaseItem(const Queued& q) {
    queued_bytes.fetch_sub(q.size);
    if (release) release(q.token, q.size);
  }

  // Packages queued input, about kDrainBudget bytes per loop turn so that
  // sending interleaves with packaging. Returns true when input is left.
  static constexpr size_t kDrainBudget = 1u << 20;
  bool DrainQueue() {
    size_t budget = kDrainBudget;
    bool more = false;
    for (;;) {
      Queued q;
      {
        std::lock_guard<std::mutex> lock(qmu);
        if (queue.empty()) break;
        if (budget == 0 && !close_requested) {
          more = true;
          break;
        }
        q = queue.front();
      }
      budget -= std::min(budget, q.size);
      bool taken = true;
      if (q.annexb) {
        // Block policy: wait for room for the whole piece before taking it.
        if (o.store.overflow == OverflowPolicy::kBlock && !store.Fits(q.size, last_annexb_pts())) {
          taken = false;
        } else {
          Status s = annexb.Feed(q.data, q.size, [&](const uint8_t* d, const h264::AccessUnit& au) {
            return PackageAnnexBUnit(d, au);
          });
          if (!s.ok()) EmitError(s.code(), s.message(), false);
        }
      } else {
        h264::AccessUnit au = h264::WholeAccessUnit(q.data, q.size);
        if (q.keyframe >= 0) au.keyframe = q.keyframe == 1;
        taken = Package(q.data, au, q.pts);
      }
      if (!taken) break;
      {
        std::lock_guard<std::mutex> lock(qmu);
        queue.pop_front();
      }
      ReleaseItem(q);
    }
    bool closing;
    {
      std::lock_guard<std::mutex> lock(qmu);
      closing = close_requested && queue.empty();
    }
    if (closing && !flushed) {
      if (input_kind_loop() == 2 && !annexb_finished) {
        annexb_finished = true;
        Status s = annexb.Finish([&](const uint8_t* d, const h264::AccessUnit& au) { return PackageAnnexBUnit(d, au); });
        if (!s.ok()) EmitError(s.code(), s.message(), false);
      }
      FlushDropped();
      flushed = true;
    }
    // A long drop run (the network is down) is reported at least once a second.
    if (drop_run_frames > 0 && Elapsed(SteadyMs(), drop_run_started) >= 1000) FlushDropped();
    return more;
  }

  int input_kind_loop() const {
    std::lock_guard<std::mutex> lock(qmu);
    return input_kind;
  }
  uint64_t last_annexb_pts() const {
    return annexb_start + static_cast<uint64_t>(std::llround(static_cast<double>(annexb_index) * 1000.0 / o.annexb_fps));
  }

  Status PackageAnnexBUnit(const uint8_t* d, const h264::AccessUnit& au) {
    if (annexb_index == 0 && annexb_start == 0) annexb_start = o.annexb_start_ms ? o.annexb_start_ms : WallMs();
    const uint64_t pts = last_annexb_pts();
    if (!have_track && !au.keyframe) return Status::Ok();  // before the first key frame: skipped, not timed
    ++annexb_index;
    // A piece holds many frames; under the block policy it was admitted whole
    // (a unit that still finds the store full is reported as dropped).
    if (!Package(d, au, pts)) NoteDropped(pts, 1);
    return Status::Ok();
  }

  // ---- connections (loop thread) ----
  uint64_t Backoff() {
    const uint64_t cap = std::min<uint64_t>(o.backoff_max_ms, o.backoff_base_ms << std::min<uint32_t>(attempts, 16));
    ++attempts;
    std::uniform_int_distribution<uint64_t> d(o.backoff_base_ms / 2, std::max<uint64_t>(cap, o.backoff_base_ms / 2));
    return d(rng);
  }

  void ScheduleRetry(uint64_t now) {
    state = State::kBackoff;
    retry_at = now + Backoff();
    CAMWIRE_KVS_TRACE("retry in %llu ms", static_cast<unsigned long long>(retry_at - now));
  }

  void Fail(const std::string& code, const std::string& message) {
    EmitError(code, message, true);
    state = State::kFailed;
  }

  uint64_t CredentialsGeneration() const {
    std::lock_guard<std::mutex> lock(qmu);
    return creds_gen;
  }

  Credentials CurrentCredentials(uint64_t* gen) {
    std::lock_guard<std::mutex> lock(qmu);
    *gen = creds_gen;
    return creds;
  }

  std::unique_ptr<Conn> NewConn(const std::string& url) {
    std::unique_ptr<Conn> c(new Conn());
    c->owner = this;
    c->easy = curl_easy_init();
    c->started_ms = SteadyMs();
    c->started_wall = WallMs();
    CURL* h = c->easy;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PRIVATE, c.get());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
    if (!o.ca_file.empty()) {
      curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
    } else if (!o.ca_pem.empty()) {
#if LIBCURL_VERSION_NUM >= 0x074d00  // CURLOPT_CAINFO_BLOB: 7.77.0
      // Exactly these roots, not the system's as well (a build's default file or directory).
      curl_blob blob{const_cast<char*>(o.ca_pem.data()), o.ca_pem.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);  // o outlives every connection
      curl_easy_setopt(h, CURLOPT_CAINFO, static_cast<char*>(nullptr));
      curl_easy_setopt(h, CURLOPT_CAPATH, static_cast<char*>(nullptr));
#endif
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c.get());
    // Proxies come from the environment (HTTPS_PROXY, https_proxy, NO_PROXY), as curl does by default.
    return c;
  }

  // Signs the request (session token included, and signed) and puts its
  // headers, the Authorization header and an empty Expect on the connection.
  Status SignInto(Conn* c, sigv4::Request& req, const Credentials& cr, const std::string& date) {
    if (!cr.keys.session_token.empty()) req.headers.emplace_back("x-amz-security-token", cr.keys.session_token);
    sigv4::Options so;
    so.region = o.region;
    so.service = "kinesisvideo";
    so.amz_date = date;
    Result<sigv4::Signed> s = sigv4::Sign(req, cr.keys, so);
    if (!s.ok()) return s.status();
    for (const auto& kv : req.headers) c->headers = curl_slist_append(c->headers, (kv.first + ": " + kv.second).c_str());
    c->headers = curl_slist_append(c->headers, ("authorization: " + s.value().authorization).c_str());
    c->headers = curl_slist_append(c->headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    return Status::Ok();
  }

  void StartEndpointRequest(CURLM* multi) {
    Result<Url> u = ParseUrl(o.control_endpoint);
    if (!u.ok()) return Fail(u.status().code(), u.status().message());
    uint64_t gen = 0;
    const Credentials cr = CurrentCredentials(&gen);
    std::unique_ptr<Conn> c = NewConn(u.value().base + "/getDataEndpoint");
    c->request_body = "{\"StreamName\":\"" + o.stream_name + "\",\"APIName\":\"PUT_MEDIA\"}";
    const std::string date = AmzDate(WallMs());
    sigv4::Request req;
    req.method = "POST";
    req.path = "/getDataEndpoint";
    req.headers = {{"host", u.value().authority}, {"x-amz-date", date}, {"content-type", "application/json"}, {"user-agent", o.user_agent}};
    req.payload_sha256_hex = sigv4::Sha256Hex(c->request_body);
    Status signed_ok = SignInto(c.get(), req, cr, date);
    if (!signed_ok.ok()) return Fail(signed_ok.code(), signed_ok.message());
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->request_body.c_str());
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(c->request_body.size()));
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.connect_timeout_ms * 2));
    c->creds_gen = gen;
    conn = std::move(c);
    state = State::kEndpoint;
    curl_multi_add_handle(multi, conn->easy);
  }

  void StartPutMedia(CURLM* multi) {
    const std::string endpoint = o.data_endpoint.empty() ? data_endpoint : o.data_endpoint;
    Result<Url> u = ParseUrl(endpoint);
    if (!u.ok()) return Fail(u.status().code(), "data endpoint: " + u.status().message());
    uint64_t gen = 0;
    const Credentials cr = CurrentCredentials(&gen);
    std::unique_ptr<Conn> c = NewConn(u.value().base + "/putMedia");
    c->put_media = true;
    c->creds_gen = gen;
    c->creds_expiration_ms = cr.expiration_ms;
    std::array<uint8_t, 16> uid{};
    for (auto& b : uid) b = static_cast<uint8_t>(rng());
    c->header = mkv::StreamHeader(track, uid, o.user_agent);
    store.Rewind();
    const uint64_t wall = WallMs();
    const std::string date = AmzDate(wall);
    char start[32];
    std::snprintf(start, sizeof(start), "%llu.%03llu", static_cast<unsigned long long>(wall / 1000),
                  static_cast<unsigned long long>(wall % 1000));
    sigv4::Request req;
    req.method = "POST";
    req.path = "/putMedia";
    req.headers = {
        {"host", u.value().authority},
        {"connection", "keep-alive"},
        {"transfer-encoding", "chunked"},
        {"user-agent", o.user_agent},
        {"x-amz-date", date},
        {"x-amzn-fragment-acknowledgment-required", "1"},
        {"x-amzn-fragment-timecode-type", "ABSOLUTE"},
        {"x-amzn-producer-start-timestamp", start},
        {"x-amzn-stream-name", o.stream_name},
    };
    req.payload_sha256_hex = sigv4::Sha256Hex("");  // a streaming body: the empty string's hash, as KVS producers sign
    Status signed_ok = SignInto(c.get(), req, cr, date);
    if (!signed_ok.ok()) return Fail(signed_ok.code(), signed_ok.message());
    curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(c->easy, CURLOPT_READFUNCTION, &Impl::OnRead);
    curl_easy_setopt(c->easy, CURLOPT_READDATA, c.get());
    curl_easy_setopt(c->easy, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    conn = std::move(c);
    state = State::kStreaming;
    {
      std::lock_guard<std::mutex> lock(mmu);
      ++metrics.connections;
      metrics.data_endpoint = endpoint;
      CAMWIRE_KVS_TRACE("PutMedia connection %llu to %s: %zu fragment(s) not yet persisted", static_cast<unsigned long long>(metrics.connections),
                        endpoint.c_str(), store.Unpersisted());
    }
    curl_multi_add_handle(multi, conn->easy);
  }

  void DropConn(CURLM* multi) {
    if (!conn) return;
    curl_multi_remove_handle(multi, conn->easy);
    curl_easy_cleanup(conn->easy);
    curl_slist_free_all(conn->headers);
    conn.reset();
  }

  // ---- curl callbacks (loop thread, inside curl_multi_perform) ----
  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    Conn* c = static_cast<Conn*>(user);
    const size_t len = size * n;
    std::string line(data, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.compare(0, 5, "HTTP/") == 0) {
      const size_t sp = line.find(' ');
      c->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
      c->headers_done = false;
    } else if (line.empty()) {
      if (c->status >= 200) c->headers_done = true;
      if (c->put_media && c->status == 200) c->owner->OnConnected();
    } else {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (name == "x-amzn-errortype" || name == "x-amz-errortype") {
          std::string v = line.substr(colon + 1);
          v.erase(0, v.find_first_not_of(' '));
          c->error_type = v.substr(0, 200);
        }
      }
    }
    return len;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    Conn* c = static_cast<Conn*>(user);
    const size_t len = size * n;
    if (!c->put_media || c->status != 200) {
      if (c->response_body.size() < 65536) c->response_body.append(data, std::min(len, 65536 - c->response_body.size()));
      return len;
    }
    std::vector<Ack> acks;
    Status s = c->parser.Feed(reinterpret_cast<const uint8_t*>(data), len, acks);
    for (const Ack& a : acks) c->owner->OnAck(c, a);
    if (!s.ok() && c->abort_code.empty()) {
      c->abort_code = "KVS_BAD_ACK";
      c->abort_message = "the PutMedia acknowledgement stream is malformed: " + s.message();
    }
    return c->abort_code.empty() ? len : 0;  // 0 ends the transfer
  }

  static size_t OnRead(char* buf, size_t size, size_t n, void* user) {
    Conn* c = static_cast<Conn*>(user);
    Impl* p = c->owner;
    const size_t max = size * n;
    if (!c->abort_code.empty()) return CURL_READFUNC_ABORT;
    if (c->header_off < c->header.size()) {
      const size_t k = std::min(max, c->header.size() - c->header_off);
      std::memcpy(buf, c->header.data() + c->header_off, k);
      c->header_off += k;
      return k;
    }
    bool boundary = false;
    std::vector<uint64_t> started;
    const size_t k = p->store.ReadInto(reinterpret_cast<uint8_t*>(buf), max, c->ending == Ending::kRotate, &boundary, &started);
    const uint64_t now = SteadyMs();
    for (uint64_t tc : started) {
      c->awaiting_buffering.emplace_back(tc, now);
      c->sent_at.emplace_back(tc, now);
      if (c->sent_at.size() > 4096) c->sent_at.pop_front();
      c->have_started = true;
      c->last_started = tc;
    }
    if (k > 0) {
      std::lock_guard<std::mutex> lock(p->mmu);
      p->metrics.bytes_sent += k;
      return k;
    }
    const bool end = (c->ending == Ending::kRotate && boundary) ||
                     (c->ending == Ending::kClose && p->flushed && p->store.AllRead());
    if (end) {
      c->body_done = true;
      c->body_done_ms = now;
      return 0;  // the terminating chunk
    }
    c->paused = true;
    return CURL_READFUNC_PAUSE;
  }

  void OnConnected() {
    connect_failures = 0;
    ProducerEvent e;
    e.kind = ProducerEvent::kConnected;
    {
      std::lock_guard<std::mutex> lock(mmu);
      e.connection = metrics.connections;
      e.endpoint = metrics.data_endpoint;
    }
    Emit(std::move(e));
  }

  void OnAck(Conn* c, const Ack& a) {
    const uint64_t now = SteadyMs();
    if (a.type == AckType::kIdle) return;
    {
      std::lock_guard<std::mutex> lock(mmu);
      if (a.type == AckType::kBuffering) ++metrics.acks_buffering;
      if (a.type == AckType::kReceived) ++metrics.acks_received;
      if (a.type == AckType::kPersisted) ++metrics.acks_persisted;
      if (a.type == AckType::kError) ++metrics.acks_error;
    }
    if (a.has_timecode) {
      while (!c->awaiting_buffering.empty() && c->awaiting_buffering.front().first <= a.fragment_timecode) c->awaiting_buffering.pop_front();
    }
    const bool durable = a.type == AckType::kPersisted || (o.store.trim_on_received && a.type == AckType::kReceived);
    if (durable && a.has_timecode) {
      store.OnAck(a);
      c->have_persisted = true;
      c->last_persisted = std::max(c->last_persisted, a.fragment_timecode);
      attempts = 0;
      auth_failures = 0;
      fragment_errors.erase(fragment_errors.begin(), fragment_errors.upper_bound(a.fragment_timecode));
      while (!c->sent_at.empty() && c->sent_at.front().first <= a.fragment_timecode) {
        if (c->sent_at.front().first == a.fragment_timecode) {
          std::lock_guard<std::mutex> lock(mmu);
          metrics.last_persist_latency_ms = Elapsed(now, c->sent_at.front().second);
        }
        c->sent_at.pop_front();
      }
    } else if (a.type != AckType::kError && a.has_timecode) {
      store.OnAck(a);
    }
    ProducerEvent e;
    e.kind = ProducerEvent::kAck;
    e.ack = a;
    Emit(e);
    if (a.type == AckType::kError) {
      c->ack_error = true;
      const uint32_t count = ++fragment_errors[a.fragment_timecode];
      std::string msg = "KVS answered ERROR " + std::to_string(a.error_id) + (a.error_code.empty() ? "" : " " + a.error_code) +
                        " for the fragment at " + std::to_string(a.fragment_timecode);
      if (StreamLevelAckError(a.error_id)) {
        c->abort_fatal = true;
        c->abort_code = "KVS_ACK_ERROR";
        c->abort_message = msg + " (a stream-level error; the stream stops)";
        return;
      }
      if (count >= o.max_fragment_errors && a.has_timecode) {
        const size_t frames = store.DropFragment(a.fragment_timecode);
        msg += "; refused " + std::to_string(count) + " times, that fragment (" + std::to_string(frames) + " frames) is dropped";
        NoteDropped(a.fragment_timecode, frames);
        fragment_errors.erase(a.fragment_timecode);
      } else {
        msg += "; reconnecting and re-sending from the first fragment not yet persisted";
      }
      EmitError("KVS_ACK_ERROR", msg, false, a.fragment_timecode);
      // The service ends the connection after an ERROR; do not wait for it.
      c->abort_code = "KVS_ACK_ERROR";
    }
  }

  // A transfer ended (curl says done).
  void OnDone(CURLM* multi, CURLcode result) {
    const uint64_t now = SteadyMs();
    Conn* c = conn.get();
    if (!c) return;
    const long status = c->status;
    if (!c->put_media) {
      std::string body = c->response_body;
      std::string error_type = c->error_type;
      std::string curl_err = c->errbuf[0] ? c->errbuf : curl_easy_strerror(result);
      DropConn(multi);
      if (result == CURLE_OK && status == 200) {
        const std::string ep = JsonStringField(body, "DataEndpoint");
        if (ParseUrl(ep).ok()) {
          data_endpoint = ep;
          state = State::kIdle;
          return;
        }
        EmitError("KVS_BAD_RESPONSE", "GetDataEndpoint answered without a DataEndpoint URL", false);
        return ScheduleRetry(now);
      }
      return HandleFailure(now, result, status, body, error_type, curl_err, false);
    }
    // PutMedia.
    const bool graceful = c->body_done && (result == CURLE_OK) && status == 200;
    CAMWIRE_KVS_TRACE("PutMedia ended: curl %d, HTTP %ld, body ended by us %d (ending %d), ack error %d, abort '%s', %s",
                      static_cast<int>(result), status, c->body_done ? 1 : 0, static_cast<int>(c->ending), c->ack_error ? 1 : 0,
                      c->abort_code.c_str(), c->errbuf);
    const bool ack_error = c->ack_error;
    const std::string abort_code = c->abort_code;
    const std::string abort_message = c->abort_message;
    const bool abort_fatal = c->abort_fatal;
    std::string body = c->response_body;
    std::string error_type = c->error_type;
    std::string curl_err = c->errbuf[0] ? c->errbuf : curl_easy_strerror(result);
    const bool had_persisted = c->have_persisted;
    const bool carried_unacked = !c->AllDurable();
    const size_t unacked = c->sent_at.size();  // the fragments no durable ack covered
    DropConn(multi);
    FlushDropped();
    if (abort_fatal) return Fail(abort_code, abort_message);
    if (!abort_code.empty() && !ack_error) {
      EmitError(abort_code, abort_message, false);
      return ScheduleRetry(now);
    }
    if (ack_error) return ScheduleRetry(now);
    if (graceful || (result == CURLE_OK && status == 200)) {
      // The body was ended by us (rotation or close), or the service ended the session.
      if (!graceful) {
        EmitError("KVS_CONNECTION_ENDED", "the service ended the PutMedia session", false);
        return ScheduleRetry(now);
      }
      // An answer that leaves what was sent unacknowledged is a failure like any
      // other: re-sent after the backoff, never at once (an endpoint that answers
      // 200 without acks would otherwise be hammered with the same fragments).
      if (carried_unacked) {
        EmitError("KVS_CONNECTION_ENDED",
                  "the PutMedia session ended with " + std::to_string(unacked) +
                      " fragment(s) sent and not acknowledged as PERSISTED; re-sending after a backoff",
                  false);
        return ScheduleRetry(now);
      }
      state = State::kIdle;
      if (had_persisted) attempts = 0;
      return;
    }
    HandleFailure(now, result, status, body, error_type, curl_err, true);
  }

  void HandleFailure(uint64_t now, CURLcode result, long status, const std::string& body, const std::string& error_type,
                     const std::string& curl_err,
                     bool put_media) {
    const std::string what = put_media ? "PutMedia" : "GetDataEndpoint";
    if (result != CURLE_OK && status == 0) {
      if (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CACERT_BADFILE || result == CURLE_SSL_CERTPROBLEM) {
        return Fail("KVS_TLS", what + ": the endpoint's TLS certificate is not trusted (" + curl_err + ")");
      }
      ++connect_failures;
      // The cached data endpoint may be gone: ask GetDataEndpoint again after three failures.
      if (connect_failures >= 3 && o.data_endpoint.empty() && put_media) {
        data_endpoint.clear();
        connect_failures = 0;
      }
      const bool unreachable = result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
                               result == CURLE_COULDNT_RESOLVE_PROXY || result == CURLE_OPERATION_TIMEDOUT;
      EmitError(unreachable || !put_media ? "KVS_UNREACHABLE" : "KVS_CONNECTION_DROPPED", what + ": " + curl_err, false);
      return ScheduleRetry(now);
    }
    if (status == 200) {
      EmitError("KVS_CONNECTION_DROPPED", what + ": " + curl_err, false);
      return ScheduleRetry(now);
    }
    std::string message = JsonStringField(body, "message");
    if (message.empty()) message = JsonStringField(body, "Message");
    const std::string detail = what + " answered HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
    if (status == 401 || status == 403) {
      ++auth_failures;
      if (auth_failures >= o.max_auth_failures) {
        return Fail("KVS_NOT_AUTHORIZED", detail + " (check the access key, secret, session token and the clock)");
      }
      EmitError("KVS_NOT_AUTHORIZED", detail, false);
      return ScheduleRetry(now);
    }
    if (status == 404) return Fail("KVS_STREAM_NOT_FOUND", detail + " (create the stream first: aws kinesisvideo create-stream --stream-name NAME --data-retention-in-hours 24)");
    // ClientLimitExceeded / ConnectionLimitExceeded (x-amzn-ErrorType) pass; other 400s are the request's fault.
    const bool limit = error_type.find("LimitExceeded") != std::string::npos || body.find("LimitExceeded") != std::string::npos;
    if (status == 400 && !limit) {
      return Fail("KVS_INVALID_ARGUMENT", detail);
    }
    if (status >= 500 && o.data_endpoint.empty()) data_endpoint.clear();
    EmitError(status == 400 ? "KVS_LIMIT_EXCEEDED" : "KVS_SERVICE_ERROR", detail, false);
    ScheduleRetry(now);
  }

  // ---- the state machine, once per loop turn; returns the next deadline (steady ms) ----
  uint64_t Step(CURLM* multi, uint64_t now, bool* finished) {
    *finished = false;
    bool abort_now;
    bool have_credentials;
    {
      std::lock_guard<std::mutex> lock(qmu);
      abort_now = abort_requested;
      have_credentials = have_creds;
    }
    if (abort_now) {
      DropConn(multi);
      ReleaseAll();
      EmitClosed("KVS_ABORTED", "the stream was aborted; fragments not yet persisted were discarded");
      *finished = true;
      return now + 1000;
    }
    if (state == State::kFailed) {
      ReleaseAll();
      bool closing;
      {
        std::lock_guard<std::mutex> lock(qmu);
        closing = close_requested;
      }
      if (closing) {
        EmitClosed("KVS_FAILED", "the stream stopped after a fatal error");
        *finished = true;
      }
      return now + 1000;
    }
    const bool more_input = DrainQueue();
    uint64_t deadline = more_input ? now : now + 1000;
    bool closing;
    {
      std::lock_guard<std::mutex> lock(qmu);
      closing = close_requested;
    }
    if (closing && close_deadline == 0) close_deadline = now + o.persist_timeout_ms;

    const bool has_data = have_track && !store.AllRead();
    const bool unpersisted = store.Unpersisted() > 0;
    if (closing && flushed && (!have_track || !unpersisted) && !conn) {
      EmitClosed("", "");
      *finished = true;
      return deadline;
    }
    if (closing && flushed && now >= close_deadline) {
      DropConn(multi);
      EmitClosed("KVS_PERSIST_TIMEOUT", std::to_string(store.Unpersisted()) + " fragment(s) were not PERSISTED within " +
                                            std::to_string(o.persist_timeout_ms) + " ms of close()");
      *finished = true;
      return deadline;
    }
    if (closing) deadline = std::min(deadline, close_deadline);

    if (state == State::kBackoff && now >= retry_at) state = State::kIdle;
    if (state == State::kBackoff) deadline = std::min(deadline, retry_at);

    if (state == State::kIdle && !conn && have_credentials && have_track && (has_data || (closing && unpersisted))) {
      if (o.data_endpoint.empty() && data_endpoint.empty()) {
        StartEndpointRequest(multi);
      } else {
        StartPutMedia(multi);
      }
    }

    if (conn && conn->put_media) {
      Conn* c = conn.get();
      if (c->ending == Ending::kNone) {
        const uint64_t age = Elapsed(now, c->started_ms);
        const uint64_t wall = WallMs();
        // Rotate before the signing credentials expire (the service ends the
        // session then), once newer ones have been handed over.
        const uint64_t exp = c->creds_expiration_ms;
        const uint64_t lifetime = exp > c->started_wall ? exp - c->started_wall : 0;
        const uint64_t margin = std::min<uint64_t>(10000, lifetime / 3);
        const bool creds_expiring = exp != 0 && wall + margin >= exp && CredentialsGeneration() != c->creds_gen;
        if (closing && flushed) {
          CAMWIRE_KVS_TRACE("closing: ending the body once everything is read");
          c->ending = Ending::kClose;
        } else if (age >= o.rotate_after_ms || creds_expiring) {
          CAMWIRE_KVS_TRACE("rotating: connection age %llu ms, credentials expiring %d", static_cast<unsigned long long>(age), creds_expiring ? 1 : 0);
          c->ending = Ending::kRotate;
        } else {
          deadline = std::min(deadline, c->started_ms + o.rotate_after_ms);
          if (exp) deadline = std::min(deadline, now + (exp - std::min(exp, wall + margin)));
        }
      }
      if (c->ending == Ending::kRotate && closing && flushed) c->ending = Ending::kClose;
      // Staleness: a fragment went out and no BUFFERING ack came back in time.
      if (!c->awaiting_buffering.empty()) {
        const uint64_t since = c->awaiting_buffering.front().second;
        if (Elapsed(now, since) >= o.stale_after_ms) {
          DropConn(multi);
          EmitError("KVS_CONNECTION_STALE", "no BUFFERING ack " + std::to_string(Elapsed(now, since)) +
                                                " ms after a fragment was sent; reconnecting and re-sending",
                    false);
          ScheduleRetry(now);
          return now;
        }
        deadline = std::min(deadline, since + o.stale_after_ms);
      }
      // Rotation: once the body ended on a fragment boundary and what was sent is durable, move on.
      if (c->body_done && c->ending == Ending::kRotate) {
        if (c->AllDurable()) {
          DropConn(multi);
          state = State::kIdle;
          return now;  // the next turn opens the new connection
        }
        if (Elapsed(now, c->body_done_ms) >= std::min<uint64_t>(o.persist_timeout_ms, 5000)) {
          const size_t unacked = c->sent_at.size();
          DropConn(multi);
          EmitError("KVS_CONNECTION_ENDED",
                    "rotating with " + std::to_string(unacked) +
                        " fragment(s) not acknowledged as PERSISTED within 5 s; re-sending after a backoff",
                    false);
          ScheduleRetry(now);
          return now;
        }
        deadline = std::min(deadline, c->body_done_ms + 5000);
      }
      if (c->body_done && c->ending == Ending::kClose && store.Unpersisted() == 0) {
        DropConn(multi);
        state = State::kIdle;
        return now;
      }
      if (c->paused && (!store.AllRead() || c->ending != Ending::kNone)) {
        c->paused = false;
        curl_easy_pause(c->easy, CURLPAUSE_CONT);
      }
    }

    if (o.metrics_interval_ms) {
      if (next_metrics == 0) next_metrics = now + o.metrics_interval_ms;
      if (now >= next_metrics) {
        next_metrics = now + o.metrics_interval_ms;
        ProducerEvent e;
        e.kind = ProducerEvent::kMetrics;
        e.metrics = Snapshot();
        if (conn && conn->put_media) e.metrics.connection_age_ms = Elapsed(now, conn->started_ms);
        Emit(std::move(e));
      }
      deadline = std::min(deadline, next_metrics);
    }
    return deadline;
  }

  void ReleaseAll() {
    for (;;) {
      Queued q;
      {
        std::lock_guard<std::mutex> lock(qmu);
        if (queue.empty()) return;
        q = queue.front();
        queue.pop_front();
      }
      ReleaseItem(q);
    }
  }

  void EmitClosed(const std::string& code, const std::string& message) {
    FlushDropped();
    ProducerEvent e;
    e.kind = ProducerEvent::kClosed;
    e.code = code;
    e.message = message;
    e.metrics = Snapshot();
    state = State::kClosed;
    Emit(std::move(e));
  }
};

void Loop::Run() {
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
    curl_multi_perform(multi_, &running);
    CURLMsg* msg;
    int left = 0;
    while ((msg = curl_multi_info_read(multi_, &left)) != nullptr) {
      if (msg->msg != CURLMSG_DONE) continue;
      char* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto* c = reinterpret_cast<Producer::Impl::Conn*>(priv);
      if (c) c->owner->OnDone(multi_, msg->data.result);
    }
    const uint64_t now = SteadyMs();
    uint64_t deadline = now + 1000;
    std::vector<Producer*> done;
    for (auto& p : ps) {
      bool finished = false;
      deadline = std::min(deadline, p->impl_->Step(multi_, now, &finished));
      if (finished) done.push_back(p.get());
    }
    if (!done.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      producers_.erase(std::remove_if(producers_.begin(), producers_.end(),
                                      [&](const std::shared_ptr<Producer>& p) {
                                        return std::find(done.begin(), done.end(), p.get()) != done.end();
                                      }),
                       producers_.end());
    }
    ps.clear();
    const uint64_t after = SteadyMs();
    const int timeout = deadline <= after ? 0 : static_cast<int>(std::min<uint64_t>(deadline - after, 1000));
    curl_multi_poll(multi_, nullptr, 0, timeout, nullptr);
  }
}

// ---- Producer -----------------------------------------------------------------

Producer::Producer(const ProducerOptions& options, EventSink events, ReleaseSink release)
    : impl_(new Impl(options, std::move(events), std::move(release))) {
}

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
  std::shared_ptr<Producer> p(new Producer(o, std::move(events), std::move(release)));
  Loop::Get().Add(p);
  return p;
}

Status Producer::EnqueueFrame(const uint8_t* data, size_t size, uint64_t pts_ms, int keyframe, void* token) {
  if (!h264::StartsWithStartCode(data, size)) {
    return Status::Error("KVS_NOT_ANNEXB", "putFrame takes one H.264 access unit in Annex-B form (starting with 00 00 01 or 00 00 00 01)");
  }
  {
    std::lock_guard<std::mutex> lock(impl_->qmu);
    if (impl_->close_requested || impl_->abort_requested) return Status::Error("KVS_CLOSED", "the stream is closing or closed");
    if (impl_->input_kind == 2) return Status::Error("KVS_MIXED_INPUT", "this stream takes putAnnexB pieces; use one KvsStream per input style");
    if (impl_->have_last_pts && pts_ms <= impl_->last_pts) {
      return Status::Error("KVS_TIMESTAMP_NOT_INCREASING", "frame timestamp " + std::to_string(pts_ms) +
                                                               " ms is not after the previous one (" + std::to_string(impl_->last_pts) + " ms)");
    }
    impl_->input_kind = 1;
    impl_->have_last_pts = true;
    impl_->last_pts = pts_ms;
    const bool was_empty = impl_->queue.empty();
    impl_->queue.push_back(Impl::Queued{data, size, pts_ms, keyframe, token, false, 0});
    impl_->queued_bytes.fetch_add(size);
    if (!was_empty) return Status::Ok();  // the loop has been woken for the first one already
  }
  Loop::Get().Wake();
  return Status::Ok();
}

Status Producer::EnqueueAnnexB(const uint8_t* data, size_t size, void* token) {
  {
    std::lock_guard<std::mutex> lock(impl_->qmu);
    if (impl_->close_requested || impl_->abort_requested) return Status::Error("KVS_CLOSED", "the stream is closing or closed");
    if (impl_->input_kind == 1) return Status::Error("KVS_MIXED_INPUT", "this stream takes putFrame frames; use one KvsStream per input style");
    impl_->input_kind = 2;
    const bool was_empty = impl_->queue.empty();
    impl_->queue.push_back(Impl::Queued{data, size, 0, -1, token, true, 0});
    impl_->queued_bytes.fetch_add(size);
    if (!was_empty) return Status::Ok();
  }
  Loop::Get().Wake();
  return Status::Ok();
}

void Producer::SetCredentials(const Credentials& c) {
  {
    std::lock_guard<std::mutex> lock(impl_->qmu);
    impl_->creds = c;
    ++impl_->creds_gen;
    impl_->have_creds = true;
  }
  Loop::Get().Wake();
}

void Producer::Close() {
  {
    std::lock_guard<std::mutex> lock(impl_->qmu);
    impl_->close_requested = true;
  }
  Loop::Get().Wake();
}

void Producer::Abort() {
  {
    std::lock_guard<std::mutex> lock(impl_->qmu);
    impl_->abort_requested = true;
    impl_->close_requested = true;
  }
  Loop::Get().Wake();
}

Metrics Producer::GetMetrics() const { return impl_->Snapshot(); }

uint64_t Producer::QueuedBytes() const { return impl_->queued_bytes.load(); }

}  // namespace kvs
}  // namespace camwire
