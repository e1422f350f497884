#include "kvs/putmedia_errors.h"

#include "kvs/http_text.h"

namespace camwire {
namespace kvs {

namespace {

FailureVerdict Verdict(bool fatal, const std::string& code, const std::string& message) {
  FailureVerdict v;
  v.fatal = fatal;
  v.code = code;
  v.message = message;
  return v;
}

}  // namespace

FailureVerdict ClassifyFailure(const TransferFailure& f, FailureCounters* counters, uint32_t max_auth_failures, bool fixed_data_endpoint) {
  const std::string what = f.put_media ? "PutMedia" : "GetDataEndpoint";
  if (f.result != CURLE_OK && f.status == 0) {
    if (f.result == CURLE_PEER_FAILED_VERIFICATION || f.result == CURLE_SSL_CACERT_BADFILE || f.result == CURLE_SSL_CERTPROBLEM) {
      return Verdict(true, "KVS_TLS", what + ": the endpoint's TLS certificate is not trusted (" + f.curl_error + ")");
    }
    ++counters->connect_failures;
    bool forget = false;
    // The cached data endpoint may be gone: ask GetDataEndpoint again after three failures.
    if (counters->connect_failures >= 3 && !fixed_data_endpoint && f.put_media) {
      forget = true;
      counters->connect_failures = 0;
    }
    const bool unreachable = f.result == CURLE_COULDNT_CONNECT || f.result == CURLE_COULDNT_RESOLVE_HOST || f.result == CURLE_COULDNT_RESOLVE_PROXY ||
                             f.result == CURLE_OPERATION_TIMEDOUT;
    FailureVerdict v = Verdict(false, unreachable || !f.put_media ? "KVS_UNREACHABLE" : "KVS_CONNECTION_DROPPED", what + ": " + f.curl_error);
    v.forget_endpoint = forget;
    return v;
  }
  if (f.status == 200) return Verdict(false, "KVS_CONNECTION_DROPPED", what + ": " + f.curl_error);
  std::string message = JsonStringField(f.body, "message");
  if (message.empty()) message = JsonStringField(f.body, "Message");
  const std::string detail = what + " answered HTTP " + std::to_string(f.status) + (message.empty() ? "" : ": " + message);
  if (f.status == 401 || f.status == 403) {
    ++counters->auth_failures;
    if (counters->auth_failures >= max_auth_failures) {
      return Verdict(true, "KVS_NOT_AUTHORIZED", detail + " (check the access key, secret, session token and the clock)");
    }
    return Verdict(false, "KVS_NOT_AUTHORIZED", detail);
  }
  if (f.status == 404) {
    return Verdict(true, "KVS_STREAM_NOT_FOUND",
                   detail + " (create the stream first: aws kinesisvideo create-stream --stream-name NAME --data-retention-in-hours 24)");
  }
  // ClientLimitExceeded / ConnectionLimitExceeded (x-amzn-ErrorType) pass; other 400s are the request's fault.
  const bool limit = f.error_type.find("LimitExceeded") != std::string::npos || f.body.find("LimitExceeded") != std::string::npos;
  if (f.status == 400 && !limit) return Verdict(true, "KVS_INVALID_ARGUMENT", detail);
  FailureVerdict v = Verdict(false, f.status == 400 ? "KVS_LIMIT_EXCEEDED" : "KVS_SERVICE_ERROR", detail);
  v.forget_endpoint = f.status >= 500 && !fixed_data_endpoint;
  return v;
}

bool IsClockSkewFailure(const TransferFailure& f) {
  if (f.status != 403 && f.status != 400 && f.status != 401) return false;
  const auto has = [&](const char* s) { return f.body.find(s) != std::string::npos || f.error_type.find(s) != std::string::npos; };
  return has("Signature expired") || has("Signature not yet current") || has("RequestTimeTooSkewed") || has("RequestExpired");
}

bool StreamLevelAckError(uint64_t id) { return id == 4008 || id == 4010 || id == 4012 || (id >= 4500 && id <= 4507); }

std::string AckErrorMessage(const Ack& a) {
  return "KVS answered ERROR " + std::to_string(a.error_id) + (a.error_code.empty() ? "" : " " + a.error_code) + " for the fragment at " +
         std::to_string(a.fragment_timecode);
}

}  // namespace kvs
}  // namespace camwire
