// The one error mapper: a core Status becomes a JS Error carrying the stable
// `code`; ts/native.ts turns it into a CamwireError.
#pragma once

#include <napi.h>

#include "common/status.h"

namespace camwire_binding {

inline Napi::Error StatusError(Napi::Env env, const camwire::Status& s) {
  Napi::Error e = Napi::Error::New(env, s.message());
  e.Value().Set("code", Napi::String::New(env, s.code()));
  e.Value().Set("camwireNative", Napi::Boolean::New(env, true));
  return e;
}

}  // namespace camwire_binding
