// Reading what JS passes in. Args checks the arguments of one binding entry
// point: too few, or one of the wrong type, is a TypeError that names the
// call's signature and the argument ("putFrame(buffer, ptsMs, keyframe):
// buffer must be a Buffer"). The option readers below take a field of the
// expected type or the fallback: the TypeScript layer validates options.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace camwire_binding {

class Args {
 public:
  // `usage`: the call as JS writes it; `required`: how many arguments it takes at least.
  Args(const Napi::CallbackInfo& info, const char* usage, size_t required) : info_(info), usage_(usage) {
    if (info.Length() < required) {
      Fail(std::string("expected ") + std::to_string(required) + (required == 1 ? " argument" : " arguments") + ", got " + std::to_string(info.Length()));
    }
  }

  Napi::Value operator[](size_t i) const { return info_[i]; }

  Napi::Object Object(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsObject() || v.IsArray() || v.IsFunction()) Fail(std::string(name) + " must be an object");
    return v.As<Napi::Object>();
  }
  Napi::Function Function(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsFunction()) Fail(std::string(name) + " must be a function");
    return v.As<Napi::Function>();
  }
  Napi::Buffer<uint8_t> Buffer(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsBuffer()) Fail(std::string(name) + " must be a Buffer");
    return v.As<Napi::Buffer<uint8_t>>();
  }
  std::string String(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsString()) Fail(std::string(name) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  // A string, or undefined/null (false).
  bool OptionalString(size_t i, const char* name, std::string* out) const {
    Napi::Value v = info_[i];
    if (v.IsUndefined() || v.IsNull()) return false;
    if (!v.IsString()) Fail(std::string(name) + " must be a string or undefined");
    *out = v.As<Napi::String>().Utf8Value();
    return true;
  }
  // Converted by the caller (Uint32Value, Int64Value, ...), as before the check.
  Napi::Number Number(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsNumber()) Fail(std::string(name) + " must be a number");
    return v.As<Napi::Number>();
  }
  bool Boolean(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (!v.IsBoolean()) Fail(std::string(name) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  // true / false, or undefined (-1).
  int OptionalBoolean(size_t i, const char* name) const {
    Napi::Value v = info_[i];
    if (v.IsUndefined()) return -1;
    if (!v.IsBoolean()) Fail(std::string(name) + " must be a boolean or undefined");
    return v.As<Napi::Boolean>().Value() ? 1 : 0;
  }

  // A TypeError for this call.
  [[noreturn]] void Fail(const std::string& problem) const { throw Napi::TypeError::New(info_.Env(), usage_ + ": " + problem); }

 private:
  const Napi::CallbackInfo& info_;
  std::string usage_;
};

// A field of an options object that must be there, with its type.
inline Napi::Number RequiredNumber(const Args& args, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) args.Fail(std::string("options.") + key + " must be a number");
  return v.As<Napi::Number>();
}

inline bool RequiredBool(const Args& args, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) args.Fail(std::string("options.") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

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
