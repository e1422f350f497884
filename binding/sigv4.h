#pragma once

#include <napi.h>

namespace camwire_binding {
Napi::Value SignV4(const Napi::CallbackInfo& info);
}  // namespace camwire_binding
