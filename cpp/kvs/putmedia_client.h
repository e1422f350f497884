// The KVS HTTP client over libcurl: RAII owners for easy and multi handles
// and header lists, one HTTP exchange (GetDataEndpoint or the long chunked
// PutMedia POST) with its response status, error type and bounded error
// body, and the two SigV4-signed requests.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kvs/http_text.h"
#include "kvs/producer.h"

namespace camwire {
namespace kvs {

// libcurl's global state, initialised once per process.
void EnsureCurlGlobalInit();

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;

// A request's header list (curl_slist), freed with its owner.
class HeaderList {
 public:
  void Append(const std::string& line);
  curl_slist* get() const { return head_.get(); }

 private:
  std::unique_ptr<curl_slist, CurlSlistDeleter> head_;
};

// One HTTP exchange on its own easy handle. Not movable: curl holds its
// address (CURLOPT_PRIVATE and the callbacks' user data). Once attached to
// a multi handle it detaches itself when destroyed.
class HttpExchange {
 public:
  // Who hears about the exchange (the loop thread). OnDone comes from the
  // loop after curl_multi_perform; the others from inside it, and only for a
  // streaming exchange.
  class Handler {
   public:
    virtual ~Handler() = default;
    // curl says the transfer is done (the loop, after curl_multi_perform).
    virtual void OnDone(CURLcode result) = 0;
    // The response headers of a 200 ended (the session is established).
    virtual void OnConnected() = 0;
    // Response body bytes of a streaming 200; returns len to go on, 0 to end the transfer.
    virtual size_t OnStreamBody(const char* data, size_t len) = 0;
    // Request body bytes; a count, 0 for the last chunk, or CURL_READFUNC_PAUSE / _ABORT.
    virtual size_t OnStreamRead(char* buf, size_t max) = 0;
  };

  // Configures the transport (timeouts, TLS, the callbacks) from the options,
  // which must outlive the exchange, as must the handler. nullptr when curl
  // cannot make a handle.
  static std::unique_ptr<HttpExchange> Create(const std::string& url, const ProducerOptions& o, Handler* handler);
  // The exchange curl reports done on this easy handle.
  static HttpExchange* FromEasy(CURL* easy);
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  void SetHeaders(HeaderList headers);
  // A small request body (copied, kept for the transfer) and an overall timeout.
  void SetPostBody(std::string body, uint64_t timeout_ms);
  // A chunked upload read from the handler, whose response (acks) goes to it as well.
  void SetStreaming();
  Handler* handler() const { return handler_; }

  void Attach(CURLM* multi);
  void Resume();  // after OnStreamRead returned CURL_READFUNC_PAUSE

  long status() const { return status_; }
  bool streaming() const { return streaming_; }
  const std::string& response_body() const { return response_body_; }
  const std::string& error_type() const { return error_type_; }
  // The response's Date header minus the local wall clock when it arrived
  // (ms; whole seconds of resolution). false when the answer had no Date.
  bool server_clock_offset(int64_t* offset_ms) const {
    if (!has_server_date_) return false;
    *offset_ms = server_offset_ms_;
    return true;
  }
  const char* curl_error() const { return errbuf_; }
  // curl's error buffer, or the message of `result` when it is empty.
  std::string ErrorText(CURLcode result) const;

 private:
  HttpExchange() = default;
  static size_t OnHeader(char* data, size_t size, size_t n, void* user);
  static size_t OnBody(char* data, size_t size, size_t n, void* user);
  static size_t OnRead(char* buf, size_t size, size_t n, void* user);

  // Destroyed in reverse: the handle is detached, then cleaned up, then its header list freed.
  HeaderList headers_;
  std::string request_body_;
  CurlEasyPtr easy_;
  CURLM* multi_ = nullptr;
  Handler* handler_ = nullptr;
  bool streaming_ = false;
  long status_ = 0;
  bool headers_done_ = false;
  std::string response_body_;  // GetDataEndpoint, or an error body (bounded)
  std::string error_type_;     // x-amzn-ErrorType
  bool has_server_date_ = false;
  int64_t server_offset_ms_ = 0;
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

// POST /getDataEndpoint on the control endpoint, signed.
Result<std::unique_ptr<HttpExchange>> NewGetDataEndpointRequest(const ProducerOptions& o, const Url& control, const Credentials& creds, uint64_t wall_ms,
                                                                HttpExchange::Handler* handler);
// The streaming POST /putMedia on a data endpoint, signed, starting at wall_ms.
Result<std::unique_ptr<HttpExchange>> NewPutMediaRequest(const ProducerOptions& o, const Url& data, const Credentials& creds, uint64_t wall_ms,
                                                         HttpExchange::Handler* handler);

}  // namespace kvs
}  // namespace camwire
