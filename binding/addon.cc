// The Node-API surface of camwire's C++ core. Only glue lives here: each
// export marshals arguments into plain C++ structs, calls cpp/, and maps the
// result back. Protocol code stays in cpp/.
#include <dlfcn.h>
#include <napi.h>

#include "common/build_info.h"
#include "env_state.h"
#include "kvs_package.h"
#include "kvs_stream.h"
#include "mkv_reader.h"
#include "ptp.h"
#include "sigv4.h"

namespace {

Napi::Object VersionPair(Napi::Env env, const camwire::LibraryVersion& v) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", v.compiled);
  o.Set("runtime", v.runtime);
  return o;
}

// probe(): what this addon was built with and what it runs against.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const camwire::BuildInfo b = camwire::GetBuildInfo();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", b.camwire_version);
  out.Set("coreCxxStandard", b.cxx_standard);
  out.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  Napi::Array modules = Napi::Array::New(env, b.modules.size());
  for (size_t i = 0; i < b.modules.size(); ++i) modules.Set(static_cast<uint32_t>(i), b.modules[i]);
  out.Set("modules", modules);
  out.Set("openssl", VersionPair(env, b.openssl));
  out.Set("libusb", b.has_libusb ? VersionPair(env, b.libusb) : env.Null());
  out.Set("libcurl", VersionPair(env, b.libcurl));
  out.Set("dependencies", b.dependencies);
  out.Set("sourceHash", b.source_hash);
  return out;
}

// Node unloads an addon when the last environment that loaded it goes (a
// worker thread exiting, with the main thread never having loaded camwire),
// but the core's threads (the stream loop, shared by every producer in the
// process) outlive any one environment: keep this library loaded for good.
void StayLoaded() {
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&StayLoaded), &self) != 0 && self.dli_fname != nullptr) {
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  StayLoaded();
  // Per environment (main thread, each worker): constructors, and the objects
  // to stop when it is torn down.
  camwire_binding::EnvState::Init(env);
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("MkvReader", camwire_binding::MkvReaderWrap::Define(env));
  exports.Set("signV4", Napi::Function::New(env, camwire_binding::SignV4, "signV4"));
  exports.Set("PtpCamera", camwire_binding::DefinePtpCamera(env));
  exports.Set("PtpClient", camwire_binding::DefinePtpClient(env));
  exports.Set("usbDevices", Napi::Function::New(env, camwire_binding::UsbDevices, "usbDevices"));
  exports.Set("KvsProducer", camwire_binding::EnvState::Of(env).Constructor("KvsProducer", camwire_binding::KvsProducerWrap::Define(env)));
  exports.Set("kvsTransport", Napi::Function::New(env, camwire_binding::KvsTransport, "kvsTransport"));
  exports.Set("packageAnnexB", Napi::Function::New(env, camwire_binding::PackageAnnexB, "packageAnnexB"));
  exports.Set("packageFile", Napi::Function::New(env, camwire_binding::PackageFile, "packageFile"));
  return exports;
}

}  // namespace

NODE_API_MODULE(camwire, Init)
