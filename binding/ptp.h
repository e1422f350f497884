#pragma once

#include <napi.h>

namespace camwire_binding {

// PtpCamera (the simulated camera on PTP/IP) and PtpClient (the app side).
Napi::Function DefinePtpCamera(Napi::Env env);
Napi::Function DefinePtpClient(Napi::Env env);
// usbDevices() -> Promise<[{ bus, address, vendorId, productId, manufacturer, product, serial, ptp }]>
Napi::Value UsbDevices(const Napi::CallbackInfo& info);

}  // namespace camwire_binding
