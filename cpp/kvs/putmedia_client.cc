#include "kvs/putmedia_client.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "kvs/clock.h"
#include "kvs/sigv4.h"

namespace camwire {
namespace kvs {

namespace {

std::once_flag g_curl_init;

// Signs the request (session token included, and signed) and returns its
// headers with the Authorization header and an empty Expect.
Result<HeaderList> SignedHeaders(const ProducerOptions& o, sigv4::Request& req, const Credentials& cr, const std::string& date) {
  if (!cr.keys.session_token.empty()) req.headers.emplace_back("x-amz-security-token", cr.keys.session_token);
  sigv4::Options so;
  so.region = o.region;
  so.service = "kinesisvideo";
  so.amz_date = date;
  Result<sigv4::Signed> s = sigv4::Sign(req, cr.keys, so);
  if (!s.ok()) return s.status();
  HeaderList headers;
  for (const auto& kv : req.headers) headers.Append(kv.first + ": " + kv.second);
  headers.Append("authorization: " + s.value().authorization);
  headers.Append("Expect:");  // no 100-continue round trip
  return Result<HeaderList>(std::move(headers));
}

Status NoHandle() { return Status::Error("KVS_CURL", "libcurl could not create a handle"); }

}  // namespace

void EnsureCurlGlobalInit() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string CurlVersion() {
  EnsureCurlGlobalInit();
  return curl_version_info(CURLVERSION_NOW)->version;
}

std::string CurlSslVersion() {
  EnsureCurlGlobalInit();
  const char* s = curl_version_info(CURLVERSION_NOW)->ssl_version;
  return s ? s : "";
}

// ---- HeaderList ------------------------------------------------------------------

void HeaderList::Append(const std::string& line) {
  curl_slist* head = curl_slist_append(head_.get(), line.c_str());
  if (head == nullptr) return;  // out of memory: the list is left as it was
  head_.release();              // the same list, now one longer (or a new one)
  head_.reset(head);
}

// ---- HttpExchange ----------------------------------------------------------------

std::unique_ptr<HttpExchange> HttpExchange::Create(const std::string& url, const ProducerOptions& o, Handler* handler) {
  std::unique_ptr<HttpExchange> x(new HttpExchange());
  x->handler_ = handler;
  x->easy_.reset(curl_easy_init());
  if (!x->easy_) return nullptr;
  CURL* h = x->easy_.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PRIVATE, x.get());
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
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);  // o outlives every exchange
    curl_easy_setopt(h, CURLOPT_CAINFO, static_cast<char*>(nullptr));
    curl_easy_setopt(h, CURLOPT_CAPATH, static_cast<char*>(nullptr));
#endif
  }
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf_);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &HttpExchange::OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, x.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &HttpExchange::OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, x.get());
  // Proxies come from the environment (HTTPS_PROXY, https_proxy, NO_PROXY), as curl does by default.
  return x;
}

HttpExchange* HttpExchange::FromEasy(CURL* easy) {
  char* priv = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
  return reinterpret_cast<HttpExchange*>(priv);
}

HttpExchange::~HttpExchange() {
  if (multi_ != nullptr) curl_multi_remove_handle(multi_, easy_.get());
}

void HttpExchange::SetHeaders(HeaderList headers) {
  headers_ = std::move(headers);
  curl_easy_setopt(easy_.get(), CURLOPT_HTTPHEADER, headers_.get());
}

void HttpExchange::SetPostBody(std::string body, uint64_t timeout_ms) {
  request_body_ = std::move(body);
  curl_easy_setopt(easy_.get(), CURLOPT_POSTFIELDS, request_body_.c_str());
  curl_easy_setopt(easy_.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(request_body_.size()));
  curl_easy_setopt(easy_.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
}

void HttpExchange::SetStreaming() {
  streaming_ = true;
  curl_easy_setopt(easy_.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(easy_.get(), CURLOPT_READFUNCTION, &HttpExchange::OnRead);
  curl_easy_setopt(easy_.get(), CURLOPT_READDATA, this);
  curl_easy_setopt(easy_.get(), CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
}

void HttpExchange::Attach(CURLM* multi) {
  multi_ = multi;
  curl_multi_add_handle(multi, easy_.get());
}

void HttpExchange::Resume() { curl_easy_pause(easy_.get(), CURLPAUSE_CONT); }

std::string HttpExchange::ErrorText(CURLcode result) const { return errbuf_[0] ? std::string(errbuf_) : std::string(curl_easy_strerror(result)); }

size_t HttpExchange::OnHeader(char* data, size_t size, size_t n, void* user) {
  HttpExchange* x = static_cast<HttpExchange*>(user);
  const size_t len = size * n;
  std::string line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.compare(0, 5, "HTTP/") == 0) {
    const size_t sp = line.find(' ');
    x->status_ = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    x->headers_done_ = false;
  } else if (line.empty()) {
    if (x->status_ >= 200) x->headers_done_ = true;
    if (x->streaming_ && x->status_ == 200) x->handler_->OnConnected();
  } else {
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(' '));
      if (name == "x-amzn-errortype" || name == "x-amz-errortype") {
        x->error_type_ = v.substr(0, 200);
      } else if (name == "date") {
        uint64_t server = 0;
        if (ParseHttpDate(v, &server)) {
          // The Date is truncated to the second: its middle is the best estimate.
          x->server_offset_ms_ = static_cast<int64_t>(server + 500) - static_cast<int64_t>(WallMs());
          x->has_server_date_ = true;
        }
      }
    }
  }
  return len;
}

size_t HttpExchange::OnBody(char* data, size_t size, size_t n, void* user) {
  HttpExchange* x = static_cast<HttpExchange*>(user);
  const size_t len = size * n;
  if (!x->streaming_ || x->status_ != 200) {
    if (x->response_body_.size() < 65536) x->response_body_.append(data, std::min(len, 65536 - x->response_body_.size()));
    return len;
  }
  return x->handler_->OnStreamBody(data, len);
}

size_t HttpExchange::OnRead(char* buf, size_t size, size_t n, void* user) {
  HttpExchange* x = static_cast<HttpExchange*>(user);
  return x->handler_->OnStreamRead(buf, size * n);
}

// ---- the requests ----------------------------------------------------------------

Result<std::unique_ptr<HttpExchange>> NewGetDataEndpointRequest(const ProducerOptions& o, const Url& control, const Credentials& creds, uint64_t wall_ms,
                                                                HttpExchange::Handler* handler) {
  std::unique_ptr<HttpExchange> x = HttpExchange::Create(control.base + "/getDataEndpoint", o, handler);
  if (!x) return NoHandle();
  std::string body = "{\"StreamName\":\"" + o.stream_name + "\",\"APIName\":\"PUT_MEDIA\"}";
  const std::string date = AmzDate(wall_ms);
  sigv4::Request req;
  req.method = "POST";
  req.path = "/getDataEndpoint";
  req.headers = {{"host", control.authority}, {"x-amz-date", date}, {"content-type", "application/json"}, {"user-agent", o.user_agent}};
  req.payload_sha256_hex = sigv4::Sha256Hex(body);
  Result<HeaderList> headers = SignedHeaders(o, req, creds, date);
  if (!headers.ok()) return headers.status();
  x->SetHeaders(std::move(headers).value());
  x->SetPostBody(std::move(body), o.connect_timeout_ms * 2);
  return Result<std::unique_ptr<HttpExchange>>(std::move(x));
}

Result<std::unique_ptr<HttpExchange>> NewPutMediaRequest(const ProducerOptions& o, const Url& data, const Credentials& creds, uint64_t wall_ms,
                                                         HttpExchange::Handler* handler) {
  std::unique_ptr<HttpExchange> x = HttpExchange::Create(data.base + "/putMedia", o, handler);
  if (!x) return NoHandle();
  const std::string date = AmzDate(wall_ms);
  char start[32];
  std::snprintf(start, sizeof(start), "%llu.%03llu", static_cast<unsigned long long>(wall_ms / 1000), static_cast<unsigned long long>(wall_ms % 1000));
  sigv4::Request req;
  req.method = "POST";
  req.path = "/putMedia";
  req.headers = {
      {"host", data.authority},
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
  Result<HeaderList> headers = SignedHeaders(o, req, creds, date);
  if (!headers.ok()) return headers.status();
  x->SetHeaders(std::move(headers).value());
  x->SetStreaming();
  return Result<std::unique_ptr<HttpExchange>>(std::move(x));
}

}  // namespace kvs
}  // namespace camwire
