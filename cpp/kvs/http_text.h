// Small text helpers for the KVS HTTP APIs: endpoint URLs and the string
// fields of the service's small JSON answers.
#pragma once

#include <string>

#include "common/status.h"

namespace camwire {
namespace kvs {

struct Url {
  std::string scheme;     // http or https
  std::string authority;  // host[:port], the port only when it is not the scheme's default
  std::string base;       // scheme://authority
};

// An http(s) endpoint; anything else is KVS_BAD_OPTIONS.
Result<Url> ParseUrl(const std::string& s);

// The value of a top-level string field in a small JSON document (the
// GetDataEndpoint answer, error bodies), "" when absent. Bounded by the
// document's size.
std::string JsonStringField(const std::string& doc, const std::string& key);

}  // namespace kvs
}  // namespace camwire
