#pragma once

#include <napi.h>

namespace camwire_binding {

// PtpCamera (the simulated camera on PTP/IP) and PtpClient (the app side).
Napi::Function DefinePtpCamera(Napi::Env env);
Napi::Function DefinePtpClient(Napi::Env env);

}  // namespace camwire_binding
