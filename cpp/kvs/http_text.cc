#include "kvs/http_text.h"

namespace camwire {
namespace kvs {

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

namespace {

bool JsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string JsonStringField(const std::string& doc, const std::string& key) {
  const std::string needle = "\"" + key + "\"";
  size_t p = doc.find(needle);
  if (p == std::string::npos) return "";
  p += needle.size();
  while (p < doc.size() && JsonSpace(doc[p])) ++p;
  if (p >= doc.size() || doc[p] != ':') return "";
  ++p;
  while (p < doc.size() && JsonSpace(doc[p])) ++p;
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

}  // namespace kvs
}  // namespace camwire
