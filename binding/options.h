// Reading plain option objects from JS: a field of the expected type, or the
// fallback. The TypeScript layer validates; these only read.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace camwire_binding {

inline std::string Str(Napi::Object o, const char* key, const std::string& fallback = std::string()) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}

inline bool Bool(Napi::Object o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

inline uint32_t U32(Napi::Object o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

inline uint64_t U64(Napi::Object o, const char* key, uint64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : fallback;
}

}  // namespace camwire_binding
