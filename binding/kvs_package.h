#pragma once

#include <napi.h>

namespace camwire_binding {
Napi::Value PackageAnnexB(const Napi::CallbackInfo& info);
}  // namespace camwire_binding
