// AWS Signature Version 4 on OpenSSL, for KVS (service "kinesisvideo") and
// any AWS JSON/REST call the producer makes. Header-based signing; the body
// hash is given by the caller (PutMedia streams, and signs the empty string's
// hash, as every KVS producer does).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

struct Request {
  std::string method;                                        // GET, POST, ...
  std::string path;                                          // raw path, e.g. "/putMedia" (encoded and normalised here)
  std::vector<std::pair<std::string, std::string>> query;    // raw (not yet encoded)
  std::vector<std::pair<std::string, std::string>> headers;  // must include host
  std::string payload_sha256_hex;                            // hex SHA-256 of the body
};

struct Options {
  std::string region;
  std::string service;
  std::string amz_date;  // YYYYMMDD'T'HHMMSS'Z'
  // Sign x-amz-security-token too (it is sent either way when there is one).
  bool sign_session_token = true;
  // Remove dot segments and double slashes from the path (all services but S3).
  bool normalize_path = true;
  // Encode path segments twice (all services but S3).
  bool double_encode_path = true;
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header value
};

Result<Signed> Sign(const Request& request, const Credentials& credentials, const Options& options);

// Helpers, exposed for tests.
std::string Sha256Hex(const std::string& data);
std::string UriEncode(const std::string& s, bool keep_slash);
std::string SigningKeyHex(const std::string& secret, const std::string& date, const std::string& region, const std::string& service);

}  // namespace sigv4
}  // namespace camwire
