// The PTP classes for JS. PtpCamera runs the responder on native threads and
// reports through one thread-safe function; PtpClient runs each transaction
// on the libuv pool (an AsyncWorker) and resolves a Promise. Only glue here:
// the protocol is in cpp/ptp.
#include "ptp.h"

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <utility>

#include "env_state.h"
#include "errors.h"
#include "event_queue.h"
#include "options.h"
#include "ptp/initiator.h"
#include "ptp/ptpip.h"
#include "ptp/ptpip_server.h"
#include "ptp/usb_initiator.h"
#include "ptp/usb_virtual.h"

namespace camwire_binding {

using namespace camwire::ptp;

namespace {

// 32 hex digits (separators allowed) -> GUID; random when empty.
bool ParseGuid(const std::string& s, ptpip::Guid* g) {
  std::string hex;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  if (s.empty()) {
    std::random_device rd;
    for (auto& b : *g) b = static_cast<uint8_t>(rd());
    return true;
  }
  if (hex.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) (*g)[i] = static_cast<uint8_t>(std::stoi(hex.substr(i * 2, 2), nullptr, 16));
  return true;
}

std::string GuidText(const ptpip::Guid& g) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < g.size(); ++i) {
    if (i) s.push_back(':');
    s.push_back(d[g[i] >> 4]);
    s.push_back(d[g[i] & 15]);
  }
  return s;
}

// ---- PtpCamera ----------------------------------------------------------------

struct CameraEvent {
  std::string kind;
  std::string a;
  std::string b;
  uint32_t n = 0;
};

// One camera event as JS sees it: { kind, a?, b?, n }.
Napi::Object CameraEventObject(Napi::Env env, const CameraEvent& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", e.kind);
  if (!e.a.empty() || e.kind == "property-changed") o.Set("a", e.a);
  if (!e.b.empty()) o.Set("b", e.b);
  o.Set("n", Napi::Number::New(env, e.n));
  return o;
}

using CameraQueue = EventQueue<CameraEvent>;

// The responder and the server report from their threads through the
// camera's EventQueue, one onEvent call per event. The queue holds the event
// loop open only while the camera serves; at environment teardown the camera
// stops.
class CameraWrap : public Napi::ObjectWrap<CameraWrap>, public EnvResident {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PtpCamera",
                       {InstanceMethod("start", &CameraWrap::Start), InstanceMethod("stop", &CameraWrap::Stop),
                        InstanceMethod("setLastUploadStatus", &CameraWrap::SetLastUploadStatus), InstanceMethod("property", &CameraWrap::Property)});
  }

  // new PtpCamera({ storage, host, port, guid, name, manufacturer, model, serial, allowDelete, allowUpload }, onEvent)
  explicit CameraWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CameraWrap>(info), residency_(info.Env(), this) {
    Napi::Env env = info.Env();
    Args args(info, "new PtpCamera(options, onEvent)", 2);
    Napi::Object o = args.Object(0, "options");
    Napi::Function on_event = args.Function(1, "onEvent");
    StorageOptions so;
    so.allow_delete = Bool(o, "allowDelete", false);
    so.allow_upload = Bool(o, "allowUpload", true);
    storage_.reset(new DirectoryStorage(Str(o, "storage"), so));
    CameraIdentity id;
    id.manufacturer = Str(o, "manufacturer", id.manufacturer);
    id.model = Str(o, "model", id.model);
    id.serial_number = Str(o, "serial", id.serial_number);
    id.device_version = Str(o, "version", "");
    usb_mode_ = Bool(o, "usb", false);
    usb_opts_.manufacturer = id.manufacturer;
    usb_opts_.product = id.model;
    usb_opts_.serial = id.serial_number;
    server_opts_.host = Str(o, "host", "127.0.0.1");
    server_opts_.port = static_cast<uint16_t>(U32(o, "port", 15740));
    server_opts_.name = Str(o, "name", "camwire");
    if (!ParseGuid(Str(o, "guid"), &server_opts_.guid)) throw Napi::TypeError::New(env, "guid must be 16 bytes in hex");
    queue_ = CameraQueue::Create(env, on_event, "camwire-ptp-camera", false, [](Napi::Env e, Napi::Function fn, std::deque<CameraEvent>& pending) {
      // One event per wake-up, each its own callback into JS.
      CameraEvent ev = std::move(pending.front());
      pending.pop_front();
      fn.Call({CameraEventObject(e, ev)});
    });
    ResponderHooks hooks;
    std::shared_ptr<CameraQueue> q = queue_;
    auto post = [q](CameraEvent e) { q->Post(std::move(e)); };
    hooks.session_opened = [post](uint32_t sid) { post({"session-opened", "", "", sid}); };
    hooks.session_closed = [post](uint32_t sid) { post({"session-closed", "", "", sid}); };
    hooks.upload_target = [post](const std::string& json, const std::string& via) { post({"upload-target", json, via, 0}); };
    hooks.object_received = [post](const std::string& path) { post({"object-received", path, "", 0}); };
    hooks.object_added = [post](uint32_t handle, const std::string& path) { post({"object-added", path, "", handle}); };
    hooks.property_changed = [post](uint16_t code, const std::string& v) { post({"property-changed", v, "", code}); };
    responder_.reset(new Responder(*storage_, id, hooks));
    // Test fault: { stallOperation: code, stallCount: n }.
    if (o.Get("stallOperation").IsNumber()) {
      responder_->StallOperation(static_cast<uint16_t>(U32(o, "stallOperation", 0)), static_cast<int>(U32(o, "stallCount", 1)));
    }
  }

  ~CameraWrap() override { Teardown(); }

  // Also at environment teardown: stop serving, let go of the listener.
  void Teardown() override {
    StopServing();
    if (queue_) queue_->Close();
  }

 private:
  // Stops the server or the virtual device; true if one was running.
  bool StopServing() {
    bool was = false;
    if (usb_) {
      usb_->Stop();
      usb_.reset();
      was = true;
    }
    if (server_) {
      server_->Stop();
      server_.reset();
      was = true;
    }
    return was;
  }

  // start() -> { port, guid } (PTP/IP) or { port: 0, usb, env } (virtual USB)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (server_ || usb_) throw Napi::Error::New(env, "already started");
    if (residency_.torn_down()) throw Napi::Error::New(env, "start(): the environment is shutting down");
    if (usb_mode_) {
      camwire::Status st = storage_->Scan();
      if (!st.ok()) throw StatusError(env, st);
      usb_.reset(new VirtualUsbCamera(*responder_, usb_opts_));
      st = usb_->Start();
      if (!st.ok()) {
        usb_.reset();
        throw StatusError(env, st);
      }
      queue_->Ref(env);
      Napi::Object out = Napi::Object::New(env);
      out.Set("port", Napi::Number::New(env, 0));
      out.Set("usb", usb_->Port());
      Napi::Object e = Napi::Object::New(env);
      for (const auto& kv : usb_->ClientEnvironment()) e.Set(kv.first, kv.second);
      out.Set("env", e);
      return out;
    }
    std::shared_ptr<CameraQueue> q = queue_;
    server_.reset(new PtpIpServer(*responder_, *storage_, server_opts_, [q](const std::string& k, const std::string& d) { q->Post({"log", k, d, 0}); }));
    camwire::Status s = server_->Start();
    if (!s.ok()) {
      server_.reset();
      throw StatusError(env, s);
    }
    queue_->Ref(env);  // a serving camera keeps the process alive
    Napi::Object out = Napi::Object::New(env);
    out.Set("port", Napi::Number::New(env, server_->port()));
    out.Set("guid", GuidText(server_opts_.guid));
    return out;
  }

  // stop()
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (StopServing()) queue_->Unref(info.Env());
    return info.Env().Undefined();
  }

  // setLastUploadStatus(text)
  Napi::Value SetLastUploadStatus(const Napi::CallbackInfo& info) {
    Args args(info, "setLastUploadStatus(status)", 1);
    responder_->SetLastUploadStatus(args.String(0, "status"));
    return info.Env().Undefined();
  }

  // property(code) -> the property's value as text
  Napi::Value Property(const Napi::CallbackInfo& info) {
    Args args(info, "property(code)", 1);
    const uint16_t code = static_cast<uint16_t>(args.Number(0, "code").Uint32Value());
    return Napi::String::New(info.Env(), responder_->PropertyText(code));
  }

  Residency residency_;
  std::shared_ptr<CameraQueue> queue_;
  std::unique_ptr<DirectoryStorage> storage_;
  std::unique_ptr<Responder> responder_;
  std::unique_ptr<PtpIpServer> server_;
  PtpIpServerOptions server_opts_;
  bool usb_mode_ = false;
  VirtualUsbOptions usb_opts_;
  std::unique_ptr<VirtualUsbCamera> usb_;
};

// ---- PtpClient ----------------------------------------------------------------

struct ClientState {
  std::mutex mu;
  std::unique_ptr<Initiator> initiator;
};

// Runs `work` on the pool; `done` builds the resolved value on the JS thread.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<camwire::Status()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { status_ = work_(); }
  void OnOK() override {
    if (!status_.ok()) {
      deferred_.Reject(StatusError(Env(), status_).Value());
      return;
    }
    deferred_.Resolve(done_ ? done_(Env()) : Env().Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<camwire::Status()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  camwire::Status status_;
};

Napi::Value Run(Napi::Env env, std::function<camwire::Status()> work, std::function<Napi::Value(Napi::Env)> done = nullptr) {
  auto* j = new Job(env, std::move(work), std::move(done));
  Napi::Promise p = j->Promise();
  j->Queue();
  return p;
}

Napi::Object ObjectInfoJs(Napi::Env env, const ObjectInfo& oi) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("storageId", Napi::Number::New(env, oi.storage_id));
  o.Set("format", Napi::Number::New(env, oi.object_format));
  o.Set("size", Napi::Number::New(env, oi.compressed_size));
  o.Set("parent", Napi::Number::New(env, oi.parent_object));
  o.Set("associationType", Napi::Number::New(env, oi.association_type));
  o.Set("filename", oi.filename);
  o.Set("captureDate", oi.capture_date);
  o.Set("modificationDate", oi.modification_date);
  return o;
}

class ClientWrap : public Napi::ObjectWrap<ClientWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PtpClient",
                       {InstanceMethod("connect", &ClientWrap::Connect), InstanceMethod("connectUsb", &ClientWrap::ConnectUsb),
                        InstanceMethod("deviceInfo", &ClientWrap::DeviceInfoJs), InstanceMethod("storageIds", &ClientWrap::StorageIds),
                        InstanceMethod("objectHandles", &ClientWrap::ObjectHandles), InstanceMethod("objectInfo", &ClientWrap::ObjectInfoM),
                        InstanceMethod("getToFile", &ClientWrap::GetToFile), InstanceMethod("setUploadTarget", &ClientWrap::SetUploadTarget),
                        InstanceMethod("waitEvent", &ClientWrap::WaitEvent), InstanceMethod("close", &ClientWrap::Close)});
  }
  explicit ClientWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ClientWrap>(info), st_(std::make_shared<ClientState>()) {}

 private:
  // Opens the session on a connected transport and makes it this client's.
  static camwire::Status Adopt(const std::shared_ptr<ClientState>& st, std::unique_ptr<InitiatorTransport> t) {
    std::unique_ptr<Initiator> ini(new Initiator(std::move(t)));
    camwire::Status s = ini->OpenSession(1);
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(st->mu);
    st->initiator = std::move(ini);
    return camwire::Status::Ok();
  }

  // connect(host, port, { name, guid, timeoutMs }) -> { name, guid }
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args args(info, "connect(host, port, options)", 3);
    const std::string host = args.String(0, "host");
    const uint16_t port = static_cast<uint16_t>(args.Number(1, "port").Uint32Value());
    Napi::Object o = args.Object(2, "options");
    ptpip::InitCommand me;
    me.name = Str(o, "name", "camwire");
    if (!ParseGuid(Str(o, "guid"), &me.guid)) throw Napi::TypeError::New(env, "guid must be 16 bytes in hex");
    const int timeout = static_cast<int>(U32(o, "timeoutMs", 5000));
    auto st = st_;
    auto peer = std::make_shared<ptpip::InitCommand>();
    return Run(
        env,
        [st, host, port, me, timeout, peer]() -> camwire::Status {
          auto c = ptpip::InitiatorConnection::Connect(host, port, me, timeout, peer.get());
          if (!c.ok()) return c.status();
          return Adopt(st, std::move(c).value());
        },
        [peer](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("name", peer->name);
          out.Set("guid", GuidText(peer->guid));
          return out;
        });
  }

  // connectUsb(bus, address, { timeoutMs }) -> { bus, address }; bus 0: the first PTP camera.
  Napi::Value ConnectUsb(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Args args(info, "connectUsb(bus, address, options)", 3);
    const int bus = static_cast<int>(args.Number(0, "bus").Int32Value());
    const int address = static_cast<int>(args.Number(1, "address").Int32Value());
    const int timeout = static_cast<int>(U32(args.Object(2, "options"), "timeoutMs", 5000));
    auto st = st_;
    auto dev = std::make_shared<UsbDeviceInfo>();
    return Run(
        env,
        [st, bus, address, timeout, dev]() -> camwire::Status {
          auto c = UsbInitiatorConnection::Open(bus, address, timeout);
          if (!c.ok()) return c.status();
          *dev = c.value()->device();
          return Adopt(st, std::move(c).value());
        },
        [dev](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("bus", Napi::Number::New(e, dev->bus));
          out.Set("address", Napi::Number::New(e, dev->address));
          return out;
        });
  }

  template <typename F>
  static camwire::Status With(const std::shared_ptr<ClientState>& st, F f) {
    std::lock_guard<std::mutex> lock(st->mu);
    if (!st->initiator) return camwire::Status::Error("PTP_NOT_CONNECTED", "not connected (connect first, or the connection was closed)");
    return f(*st->initiator);
  }

  Napi::Value DeviceInfoJs(const Napi::CallbackInfo& info) {
    auto st = st_;
    auto out = std::make_shared<DeviceInfo>();
    return Run(
        info.Env(),
        [st, out] {
          return With(st, [&](Initiator& i) {
            auto r = i.GetDeviceInfo();
            if (!r.ok()) return r.status();
            *out = r.value();
            return camwire::Status::Ok();
          });
        },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("manufacturer", out->manufacturer);
          o.Set("model", out->model);
          o.Set("version", out->device_version);
          o.Set("serial", out->serial_number);
          o.Set("vendorExtensionId", Napi::Number::New(e, out->vendor_extension_id));
          Napi::Array ops = Napi::Array::New(e, out->operations.size());
          for (size_t k = 0; k < out->operations.size(); ++k) ops.Set(static_cast<uint32_t>(k), Napi::Number::New(e, out->operations[k]));
          o.Set("operations", ops);
          return o;
        });
  }

  static Napi::Value U32ArrayJs(Napi::Env e, const std::vector<uint32_t>& v) {
    Napi::Array a = Napi::Array::New(e, v.size());
    for (size_t k = 0; k < v.size(); ++k) a.Set(static_cast<uint32_t>(k), Napi::Number::New(e, v[k]));
    return a;
  }

  Napi::Value StorageIds(const Napi::CallbackInfo& info) {
    auto st = st_;
    auto out = std::make_shared<std::vector<uint32_t>>();
    return Run(
        info.Env(),
        [st, out] {
          return With(st, [&](Initiator& i) {
            auto r = i.GetStorageIds();
            if (!r.ok()) return r.status();
            *out = r.value();
            return camwire::Status::Ok();
          });
        },
        [out](Napi::Env e) { return U32ArrayJs(e, *out); });
  }

  Napi::Value ObjectHandles(const Napi::CallbackInfo& info) {
    Args args(info, "objectHandles(storageId, parent)", 2);
    auto st = st_;
    const uint32_t storage = args.Number(0, "storageId").Uint32Value();
    const uint32_t parent = args.Number(1, "parent").Uint32Value();
    auto out = std::make_shared<std::vector<uint32_t>>();
    return Run(
        info.Env(),
        [st, out, storage, parent] {
          return With(st, [&](Initiator& i) {
            auto r = i.GetObjectHandles(storage, parent);
            if (!r.ok()) return r.status();
            *out = r.value();
            return camwire::Status::Ok();
          });
        },
        [out](Napi::Env e) { return U32ArrayJs(e, *out); });
  }

  Napi::Value ObjectInfoM(const Napi::CallbackInfo& info) {
    Args args(info, "objectInfo(handle)", 1);
    auto st = st_;
    const uint32_t h = args.Number(0, "handle").Uint32Value();
    auto out = std::make_shared<ObjectInfo>();
    return Run(
        info.Env(),
        [st, out, h] {
          return With(st, [&](Initiator& i) {
            auto r = i.GetObjectInfo(h);
            if (!r.ok()) return r.status();
            *out = r.value();
            return camwire::Status::Ok();
          });
        },
        [out](Napi::Env e) -> Napi::Value { return ObjectInfoJs(e, *out); });
  }

  // getToFile(handle, size, path, partial) -> bytes
  Napi::Value GetToFile(const Napi::CallbackInfo& info) {
    Args args(info, "getToFile(handle, size, path, partial)", 4);
    auto st = st_;
    const uint32_t h = args.Number(0, "handle").Uint32Value();
    const uint64_t size = static_cast<uint64_t>(args.Number(1, "size").Int64Value());
    const std::string path = args.String(2, "path");
    const bool partial = args.Boolean(3, "partial");
    auto done = std::make_shared<uint64_t>(0);
    return Run(
        info.Env(),
        [st, h, size, path, partial, done] {
          return With(st, [&](Initiator& i) { return i.GetObjectToFile(h, size, path, partial, [done](uint64_t d, uint64_t) { *done = d; }); });
        },
        [done](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*done)); });
  }

  Napi::Value SetUploadTarget(const Napi::CallbackInfo& info) {
    Args args(info, "setUploadTarget(json)", 1);
    auto st = st_;
    const std::string json = args.String(0, "json");
    return Run(info.Env(), [st, json] { return With(st, [&](Initiator& i) { return i.SetUploadTarget(json); }); });
  }

  // waitEvent(timeoutMs) -> { code, params } | null
  Napi::Value WaitEvent(const Napi::CallbackInfo& info) {
    Args args(info, "waitEvent(timeoutMs)", 1);
    auto st = st_;
    const int timeout = static_cast<int>(args.Number(0, "timeoutMs").Int32Value());
    auto ev = std::make_shared<Event>();
    auto got = std::make_shared<bool>(false);
    return Run(
        info.Env(),
        [st, ev, got, timeout] {
          return With(st, [&](Initiator& i) {
            auto r = i.WaitEvent(ev.get(), timeout);
            if (!r.ok()) return r.status();
            *got = r.value();
            return camwire::Status::Ok();
          });
        },
        [ev, got](Napi::Env e) -> Napi::Value {
          if (!*got) return e.Null();
          Napi::Object o = Napi::Object::New(e);
          o.Set("code", Napi::Number::New(e, ev->code));
          o.Set("params", U32ArrayJs(e, ev->params));
          return o;
        });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto st = st_;
    return Run(info.Env(), [st] {
      std::lock_guard<std::mutex> lock(st->mu);
      if (!st->initiator) return camwire::Status::Ok();
      camwire::Status s = st->initiator->CloseSession();
      st->initiator.reset();
      return s;
    });
  }

  std::shared_ptr<ClientState> st_;
};

}  // namespace

Napi::Function DefinePtpCamera(Napi::Env env) { return EnvState::Of(env).Constructor("PtpCamera", CameraWrap::Define(env)); }

Napi::Value UsbDevices(const Napi::CallbackInfo& info) {
  auto out = std::make_shared<std::vector<UsbDeviceInfo>>();
  return Run(
      info.Env(),
      [out] {
        auto r = ListUsbDevices();
        if (!r.ok()) return r.status();
        *out = r.value();
        return camwire::Status::Ok();
      },
      [out](Napi::Env e) -> Napi::Value {
        Napi::Array a = Napi::Array::New(e, out->size());
        for (size_t i = 0; i < out->size(); ++i) {
          const UsbDeviceInfo& d = (*out)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("bus", Napi::Number::New(e, d.bus));
          o.Set("address", Napi::Number::New(e, d.address));
          o.Set("vendorId", Napi::Number::New(e, d.vendor_id));
          o.Set("productId", Napi::Number::New(e, d.product_id));
          o.Set("manufacturer", d.manufacturer);
          o.Set("product", d.product);
          o.Set("serial", d.serial);
          o.Set("ptp", Napi::Boolean::New(e, d.ptp));
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}
Napi::Function DefinePtpClient(Napi::Env env) { return EnvState::Of(env).Constructor("PtpClient", ClientWrap::Define(env)); }

}  // namespace camwire_binding
