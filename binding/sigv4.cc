// signV4(request) -> { canonicalRequest, stringToSign, signedHeaders, signature, authorization }
// Synchronous on purpose: signing is a few HMACs (microseconds, no I/O), and
// the producer signs on its own thread; JS calls this for tests and tools.
#include "sigv4.h"

#include "errors.h"
#include "kvs/sigv4.h"
#include "options.h"

namespace camwire_binding {

namespace {
// request.query / request.headers: [[name, value], ...] (absent: none).
std::vector<std::pair<std::string, std::string>> Pairs(const Args& args, Napi::Object o, const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value item = a.Get(i);
    const bool pair = item.IsArray() && item.As<Napi::Array>().Get(0u).IsString() && item.As<Napi::Array>().Get(1u).IsString();
    if (!pair) args.Fail(std::string("request.") + key + " must hold [name, value] pairs of strings");
    Napi::Array kv = item.As<Napi::Array>();
    out.emplace_back(kv.Get(0u).As<Napi::String>().Utf8Value(), kv.Get(1u).As<Napi::String>().Utf8Value());
  }
  return out;
}
}  // namespace

Napi::Value SignV4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "signV4(request)", 1);
  Napi::Object o = args.Object(0, "request");
  camwire::sigv4::Request r;
  r.method = Str(o, "method");
  r.path = Str(o, "path");
  r.query = Pairs(args, o, "query");
  r.headers = Pairs(args, o, "headers");
  r.payload_sha256_hex = Str(o, "payloadSha256");
  camwire::sigv4::Credentials c{Str(o, "accessKeyId"), Str(o, "secretAccessKey"), Str(o, "sessionToken")};
  camwire::sigv4::Options opt;
  opt.region = Str(o, "region");
  opt.service = Str(o, "service");
  opt.amz_date = Str(o, "amzDate");
  if (o.Get("normalizePath").IsBoolean()) opt.normalize_path = o.Get("normalizePath").As<Napi::Boolean>().Value();
  if (o.Get("doubleEncodePath").IsBoolean()) opt.double_encode_path = o.Get("doubleEncodePath").As<Napi::Boolean>().Value();
  camwire::Result<camwire::sigv4::Signed> s = camwire::sigv4::Sign(r, c, opt);
  if (!s.ok()) throw StatusError(env, s.status());
  Napi::Object out = Napi::Object::New(env);
  out.Set("canonicalRequest", s.value().canonical_request);
  out.Set("stringToSign", s.value().string_to_sign);
  out.Set("signedHeaders", s.value().signed_headers);
  out.Set("signature", s.value().signature);
  out.Set("authorization", s.value().authorization);
  return out;
}

}  // namespace camwire_binding
