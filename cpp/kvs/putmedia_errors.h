// How the producer maps what went wrong with an HTTP exchange or an ERROR
// ack to a CamwireError code, a message and a decision: retry after a
// backoff, or stop the stream.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <string>

#include "kvs/ack_parser.h"

namespace camwire {
namespace kvs {

// How a failed GetDataEndpoint or PutMedia exchange ended.
struct TransferFailure {
  bool put_media = false;
  CURLcode result = CURLE_OK;
  long status = 0;         // HTTP status, 0 when no answer came
  std::string body;        // the error body (bounded)
  std::string error_type;  // x-amzn-ErrorType
  std::string curl_error;
  bool has_server_clock = false;  // the answer had a Date header
  int64_t server_clock_offset_ms = 0;
};

// A 403 (or 400) that says the request's signing time is outside the
// service's window: "Signature expired", "Signature not yet current",
// RequestTimeTooSkewed. The producer corrects its signing clock from the
// answer's Date header and retries.
bool IsClockSkewFailure(const TransferFailure& f);

// Consecutive failures, kept by the session across exchanges.
struct FailureCounters {
  uint32_t connect_failures = 0;  // no answer at all
  uint32_t auth_failures = 0;     // 401/403
};

struct FailureVerdict {
  bool fatal = false;  // stop the stream; otherwise retry after a backoff
  std::string code;
  std::string message;
  bool forget_endpoint = false;  // ask GetDataEndpoint again before the next PutMedia
};

// fixed_data_endpoint: the caller gave the data endpoint (there is nothing to forget).
FailureVerdict ClassifyFailure(const TransferFailure& f, FailureCounters* counters, uint32_t max_auth_failures, bool fixed_data_endpoint);

// Ack errors that are about the stream or its configuration, not one fragment:
// retrying cannot help.
bool StreamLevelAckError(uint64_t id);

// "KVS answered ERROR <id> <code> for the fragment at <timecode>".
std::string AckErrorMessage(const Ack& a);

}  // namespace kvs
}  // namespace camwire
