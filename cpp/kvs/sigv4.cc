#include "kvs/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

namespace camwire {
namespace sigv4 {

namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Trims and collapses runs of whitespace (including folded lines) to one space.
std::string TrimValue(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string NormalizePath(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out = "/";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += "/";
    out += parts[k];
  }
  if (parts.size() && path.size() > 1 && path.back() == '/') out += "/";
  return out;
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::string UriEncode(const std::string& s, bool keep_slash) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(d[c >> 4]);
      out.push_back(d[c & 15]);
    }
  }
  return out;
}

std::string SigningKeyHex(const std::string& secret, const std::string& date, const std::string& region, const std::string& service) {
  std::string k = Hmac(Hmac(Hmac(Hmac("AWS4" + secret, date), region), service), "aws4_request");
  return Hex(reinterpret_cast<const unsigned char*>(k.data()), k.size());
}

Result<Signed> Sign(const Request& r, const Credentials& c, const Options& o) {
  if (o.amz_date.size() != 16 || o.amz_date[8] != 'T' || o.amz_date[15] != 'Z') {
    return Status::Error("SIGV4_BAD_DATE", "x-amz-date must look like 20150830T123600Z");
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) return Status::Error("SIGV4_NO_CREDENTIALS", "an access key id and secret are needed");
  if (o.region.empty() || o.service.empty()) return Status::Error("SIGV4_BAD_SCOPE", "region and service are needed");
  // S3 signs the literal UNSIGNED-PAYLOAD in pre-signed URLs (and may in headers).
  if (r.payload_sha256_hex != "UNSIGNED-PAYLOAD" &&
      (r.payload_sha256_hex.size() != 64 || r.payload_sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return Status::Error("SIGV4_BAD_PAYLOAD_HASH", "the payload hash must be 64 lower-case hex digits or UNSIGNED-PAYLOAD");
  }

  // Canonical URI.
  std::string path = r.path.empty() ? "/" : r.path;
  if (o.normalize_path) path = NormalizePath(path);
  std::string uri = UriEncode(path, true);
  if (o.double_encode_path) uri = UriEncode(uri, true);

  // Canonical query: encoded pairs sorted by key, then value.
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& kv : r.query) q.emplace_back(UriEncode(kv.first, false), UriEncode(kv.second, false));
  std::sort(q.begin(), q.end());
  std::string query;
  for (size_t i = 0; i < q.size(); ++i) query += (i ? "&" : "") + q[i].first + "=" + q[i].second;

  // Canonical headers: lower-case names, trimmed values, duplicates joined by commas in order.
  std::vector<std::pair<std::string, std::string>> h;
  bool has_host = false;
  for (const auto& kv : r.headers) {
    std::string name = Lower(kv.first);
    if (name == "authorization") continue;
    if (name == "x-amz-security-token" && !o.sign_session_token) continue;
    if (name == "host") has_host = true;
    auto it = std::find_if(h.begin(), h.end(), [&](const std::pair<std::string, std::string>& e) { return e.first == name; });
    if (it != h.end()) {
      it->second += "," + TrimValue(kv.second);
    } else {
      h.emplace_back(name, TrimValue(kv.second));
    }
  }
  if (!has_host) return Status::Error("SIGV4_NO_HOST", "the host header must be signed");
  std::stable_sort(h.begin(), h.end(),
                   [](const std::pair<std::string, std::string>& a, const std::pair<std::string, std::string>& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_headers;
  for (size_t i = 0; i < h.size(); ++i) {
    canonical_headers += h[i].first + ":" + h[i].second + "\n";
    signed_headers += (i ? ";" : "") + h[i].first;
  }

  Signed s;
  s.signed_headers = signed_headers;
  s.canonical_request = r.method + "\n" + uri + "\n" + query + "\n" + canonical_headers + "\n" + signed_headers + "\n" + r.payload_sha256_hex;
  const std::string date = o.amz_date.substr(0, 8);
  const std::string scope = date + "/" + o.region + "/" + o.service + "/aws4_request";
  s.string_to_sign = "AWS4-HMAC-SHA256\n" + o.amz_date + "\n" + scope + "\n" + Sha256Hex(s.canonical_request);
  const std::string key = Hmac(Hmac(Hmac(Hmac("AWS4" + c.secret_access_key, date), o.region), o.service), "aws4_request");
  const std::string sig = Hmac(key, s.string_to_sign);
  s.signature = Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + scope + ", SignedHeaders=" + signed_headers + ", Signature=" + s.signature;
  return s;
}

}  // namespace sigv4
}  // namespace camwire
