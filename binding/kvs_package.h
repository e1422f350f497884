#pragma once

#include <napi.h>

namespace camwire_binding {
Napi::Value PackageAnnexB(const Napi::CallbackInfo& info);
// packageFile(input, output, options) -> Promise<{ bytes, frames, ... }>: file to file, the MKV never whole in memory.
Napi::Value PackageFile(const Napi::CallbackInfo& info);
}  // namespace camwire_binding
