#include "ptp/usb_virtual.h"

#ifdef CAMWIRE_WITH_UMOCKDEV

#include <dlfcn.h>
#include <linux/usbdevice_fs.h>
#include <sys/ioctl.h>
#include <umockdev.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <deque>
#include <thread>

#include "ptp/codes.h"

namespace camwire {
namespace ptp {

namespace {

// The libumockdev / GObject entry points, resolved with dlsym.
struct Api {
  decltype(&umockdev_testbed_new) testbed_new = nullptr;
  decltype(&umockdev_testbed_get_root_dir) get_root_dir = nullptr;
  decltype(&umockdev_testbed_add_from_string) add_from_string = nullptr;
  decltype(&umockdev_testbed_attach_ioctl) attach_ioctl = nullptr;
  decltype(&umockdev_ioctl_base_new) ioctl_base_new = nullptr;
  decltype(&umockdev_ioctl_client_get_request) get_request = nullptr;
  decltype(&umockdev_ioctl_client_get_arg) get_arg = nullptr;
  decltype(&umockdev_ioctl_client_complete) complete = nullptr;
  decltype(&umockdev_ioctl_data_resolve) resolve = nullptr;
  decltype(&umockdev_ioctl_data_set_ptr) set_ptr = nullptr;
  decltype(&umockdev_ioctl_data_update) update = nullptr;
  decltype(&umockdev_ioctl_data_ref) data_ref = nullptr;
  decltype(&umockdev_ioctl_data_unref) data_unref = nullptr;
  decltype(&g_signal_connect_data) signal_connect = nullptr;
  decltype(&g_object_unref) object_unref = nullptr;
  decltype(&g_free) free = nullptr;
  decltype(&g_error_free) error_free = nullptr;
};

Result<const Api*> LoadApi() {
  static Api api;
  static std::string error;
  static bool tried = false;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!tried) {
    tried = true;
    void* h = ::dlopen("libumockdev.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      error = std::string("libumockdev.so.0 cannot be loaded (") + ::dlerror() + ")";
    } else {
      bool ok = true;
      auto get = [&](auto& fn, const char* name) {
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
        if (!fn) {
          ok = false;
          error += std::string(error.empty() ? "" : ", ") + name;
        }
      };
      get(api.testbed_new, "umockdev_testbed_new");
      get(api.get_root_dir, "umockdev_testbed_get_root_dir");
      get(api.add_from_string, "umockdev_testbed_add_from_string");
      get(api.attach_ioctl, "umockdev_testbed_attach_ioctl");
      get(api.ioctl_base_new, "umockdev_ioctl_base_new");
      get(api.get_request, "umockdev_ioctl_client_get_request");
      get(api.get_arg, "umockdev_ioctl_client_get_arg");
      get(api.complete, "umockdev_ioctl_client_complete");
      get(api.resolve, "umockdev_ioctl_data_resolve");
      get(api.set_ptr, "umockdev_ioctl_data_set_ptr");
      get(api.update, "umockdev_ioctl_data_update");
      get(api.data_ref, "umockdev_ioctl_data_ref");
      get(api.data_unref, "umockdev_ioctl_data_unref");
      get(api.signal_connect, "g_signal_connect_data");
      get(api.object_unref, "g_object_unref");
      get(api.free, "g_free");
      get(api.error_free, "g_error_free");
      if (!ok)
        error = "libumockdev is missing symbols: " + error;
      else
        error.clear();
    }
  }
  if (!error.empty()) {
    return Status::Error("PTP_NO_UMOCKDEV", error + "; the virtual USB camera needs umockdev 0.16 or later (apt-get install umockdev)");
  }
  return &api;
}

void Put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>(v >> 8));
}

// Device, configuration, interface (6/1/1) and endpoint descriptors:
// bulk IN 0x81 and bulk OUT 0x02 of 512 bytes, interrupt IN 0x83 of 8.
std::string Descriptors(const VirtualUsbOptions& o) {
  std::string d;
  d += std::string("\x12\x01", 2);
  Put16(d, 0x0200);                         // bcdUSB
  d += std::string("\x00\x00\x00\x40", 4);  // class/subclass/protocol in the interface; ep0 64
  Put16(d, o.vendor_id);
  Put16(d, o.product_id);
  Put16(d, 0x0100);                         // bcdDevice
  d += std::string("\x01\x02\x03\x01", 4);  // iManufacturer, iProduct, iSerial, 1 configuration
  d += std::string("\x09\x02\x27\x00\x01\x01\x00\xc0\x01", 9);
  d += std::string("\x09\x04\x00\x00\x03\x06\x01\x01\x00", 9);
  d += std::string("\x07\x05\x81\x02\x00\x02\x00", 7);
  d += std::string("\x07\x05\x02\x02\x00\x02\x00", 7);
  d += std::string("\x07\x05\x83\x03\x08\x00\x09", 7);
  return d;
}

std::string Hex(const std::string& b) {
  static const char* h = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(h[c >> 4]);
    out.push_back(h[c & 15]);
  }
  return out;
}

std::string StringDescriptor(const std::string& ascii) {
  std::string d;
  d.push_back(static_cast<char>(2 + 2 * ascii.size()));
  d.push_back(3);
  for (char c : ascii) Put16(d, static_cast<uint8_t>(c));
  return d;
}

}  // namespace

struct VirtualUsbCamera::Impl {
  struct Urb {
    UMockdevIoctlData* urb = nullptr;
    UMockdevIoctlData* buf = nullptr;
  };

  Impl(Responder& r, VirtualUsbOptions o) : responder(r), opts(std::move(o)), watcher(r.storage(), r) {}

  Responder& responder;
  VirtualUsbOptions opts;
  const Api* api = nullptr;
  usb::Function function{512, 4u << 20};
  UMockdevTestbed* testbed = nullptr;
  UMockdevIoctlBase* handler = nullptr;
  std::string root;
  std::thread session;
  StorageWatcher watcher;
  std::atomic<bool> running{false};
  std::mutex mu;  // the handler runs on umockdev's thread; Stop on another
  std::deque<Urb> bulk_in, interrupt_in, done;

  usbdevfs_urb* U(const Urb& u) { return reinterpret_cast<usbdevfs_urb*>(u.urb->data); }

  void Finish(Urb u, int status, int actual) {
    usbdevfs_urb copy = *U(u);
    copy.status = status;
    copy.actual_length = actual;
    api->update(u.urb, 0, reinterpret_cast<guint8*>(&copy), static_cast<gint>(sizeof(copy)));
    done.push_back(u);
  }

  // Answers control transfers on endpoint 0: string descriptors and the PTP class requests.
  void Control(Urb u) {
    const usbdevfs_urb* x = U(u);
    if (!u.buf || x->buffer_length < 8) return Finish(u, -EPIPE, 0);
    const uint8_t* setup = u.buf->data;
    const uint8_t type = setup[0];
    const uint8_t request = setup[1];
    const uint16_t value = static_cast<uint16_t>(setup[2] | (setup[3] << 8));
    const uint16_t length = static_cast<uint16_t>(setup[6] | (setup[7] << 8));
    std::string reply;
    if (type == 0x80 && request == 6 && (value >> 8) == 3) {  // GET_DESCRIPTOR(STRING)
      const int index = value & 0xFF;
      if (index == 0)
        reply = std::string("\x04\x03\x09\x04", 4);
      else if (index == 1)
        reply = StringDescriptor(opts.manufacturer);
      else if (index == 2)
        reply = StringDescriptor(opts.product);
      else if (index == 3)
        reply = StringDescriptor(opts.serial);
      else
        return Finish(u, -EPIPE, 0);
    } else if (type == 0x80 && request == 6 && (value >> 8) == 1) {  // GET_DESCRIPTOR(DEVICE)
      reply = Descriptors(opts).substr(0, 18);
    } else if (type == 0x80 && request == 0) {  // GET_STATUS
      reply = std::string("\x01\x00", 2);
    } else if (type == 0xA1 && request == 0x67) {  // Get Device Status
      std::string s;
      Put16(s, 4);
      Put16(s, function.DeviceStatus());
      reply = s;
    } else if (type == 0x21 && request == 0x64) {  // Cancel: u16 0x4001 + u32 transaction id
      uint32_t tid = 0;
      if (x->buffer_length >= 14) std::memcpy(&tid, u.buf->data + 10, 4);
      function.Cancel(tid);
      return Finish(u, 0, 0);
    } else if (type == 0x21 && request == 0x66) {  // Device Reset
      function.Reset();
      return Finish(u, 0, 0);
    } else {
      return Finish(u, -EPIPE, 0);  // a stall, as a device does for what it does not know
    }
    const size_t n = std::min<size_t>(reply.size(), std::min<size_t>(length, static_cast<size_t>(x->buffer_length - 8)));
    api->update(u.buf, 8, reinterpret_cast<guint8*>(&reply[0]), static_cast<gint>(n));
    Finish(u, 0, static_cast<int>(n));
  }

  // Moves whatever the function has ready into pending IN URBs.
  void Pump() {
    while (!bulk_in.empty()) {
      Urb u = bulk_in.front();
      const int cap = U(u)->buffer_length;
      std::vector<uint8_t> tmp(static_cast<size_t>(std::max(cap, 0)));
      const long n = function.BulkIn(tmp.data(), tmp.size());
      if (n < 0) break;
      bulk_in.pop_front();
      if (n > 0) api->update(u.buf, 0, tmp.data(), static_cast<gint>(n));
      Finish(u, 0, static_cast<int>(n));
    }
    std::vector<uint8_t> ev;
    while (!interrupt_in.empty() && function.InterruptIn(&ev)) {
      Urb u = interrupt_in.front();
      interrupt_in.pop_front();
      const size_t n = std::min<size_t>(ev.size(), static_cast<size_t>(U(u)->buffer_length));
      api->update(u.buf, 0, ev.data(), static_cast<gint>(n));
      Finish(u, 0, static_cast<int>(n));
    }
  }

  gboolean Handle(UMockdevIoctlClient* client) {
    std::lock_guard<std::mutex> lock(mu);
    const unsigned long request = api->get_request(client);
    UMockdevIoctlData* arg = api->get_arg(client);
    GError* err = nullptr;
    switch (request) {
      case USBDEVFS_SUBMITURB: {
        Urb u;
        u.urb = api->resolve(arg, 0, sizeof(usbdevfs_urb), &err);
        if (!u.urb) break;
        const usbdevfs_urb* x = U(u);
        if (x->buffer_length > 0) {
          u.buf = api->resolve(u.urb, offsetof(usbdevfs_urb, buffer), static_cast<gsize>(x->buffer_length), &err);
          if (!u.buf) break;
        }
        api->data_ref(u.urb);
        if (x->type == USBDEVFS_URB_TYPE_CONTROL) {
          Control(u);
        } else if (x->endpoint == 0x02) {
          if (u.buf) function.BulkOut(u.buf->data, static_cast<size_t>(x->buffer_length));
          Finish(u, 0, x->buffer_length);
        } else if (x->endpoint == 0x81) {
          bulk_in.push_back(u);
        } else if (x->endpoint == 0x83) {
          interrupt_in.push_back(u);
        } else {
          Finish(u, -EPIPE, 0);
        }
        api->complete(client, 0, 0);
        return TRUE;
      }
      case USBDEVFS_REAPURB:
      case USBDEVFS_REAPURBNDELAY: {
        Pump();
        if (done.empty()) {
          api->complete(client, -1, EAGAIN);
          return TRUE;
        }
        Urb u = done.front();
        done.pop_front();
        UMockdevIoctlData* slot = api->resolve(arg, 0, sizeof(void*), &err);
        if (!slot) break;
        api->set_ptr(slot, 0, u.urb);
        api->complete(client, 0, 0);
        api->data_unref(u.urb);
        return TRUE;
      }
      case USBDEVFS_DISCARDURB: {
        unsigned long addr = 0;
        std::memcpy(&addr, arg->data, std::min<size_t>(sizeof(addr), static_cast<size_t>(arg->data_len)));
        for (auto* q : {&bulk_in, &interrupt_in}) {
          for (auto it = q->begin(); it != q->end(); ++it) {
            if (it->urb->client_addr == addr) {
              Urb u = *it;
              q->erase(it);
              Finish(u, -ENOENT, 0);
              api->complete(client, 0, 0);
              return TRUE;
            }
          }
        }
        api->complete(client, -1, EINVAL);
        return TRUE;
      }
      case USBDEVFS_GET_CAPABILITIES: {
        UMockdevIoctlData* caps = api->resolve(arg, 0, 4, &err);
        if (!caps) break;
        uint32_t v = USBDEVFS_CAP_BULK_SCATTER_GATHER | USBDEVFS_CAP_NO_PACKET_SIZE_LIM;
        api->update(caps, 0, reinterpret_cast<guint8*>(&v), 4);
        api->complete(client, 0, 0);
        return TRUE;
      }
      case USBDEVFS_CLAIMINTERFACE:
        function.Reset();  // a new host: start clean
        api->complete(client, 0, 0);
        return TRUE;
      case USBDEVFS_RELEASEINTERFACE:
      case USBDEVFS_SETINTERFACE:
      case USBDEVFS_SETCONFIGURATION:
      case USBDEVFS_CLEAR_HALT:
      case USBDEVFS_RESETEP:
      case USBDEVFS_DISCONNECT_CLAIM:
        api->complete(client, 0, 0);
        return TRUE;
      case USBDEVFS_RESET:
        function.Reset();
        api->complete(client, 0, 0);
        return TRUE;
      case USBDEVFS_GETDRIVER:
      case USBDEVFS_IOCTL:
        api->complete(client, -1, ENODATA);
        return TRUE;
      default:
        api->complete(client, -1, ENOTTY);
        return TRUE;
    }
    if (err) api->error_free(err);
    api->complete(client, -1, EFAULT);
    return TRUE;
  }

  static gboolean OnIoctl(UMockdevIoctlBase*, UMockdevIoctlClient* client, gpointer self) { return static_cast<Impl*>(self)->Handle(client); }
};

VirtualUsbCamera::VirtualUsbCamera(Responder& responder, VirtualUsbOptions o) : impl_(new Impl(responder, std::move(o))) {}

VirtualUsbCamera::~VirtualUsbCamera() { Stop(); }

Status VirtualUsbCamera::Start() {
  Result<const Api*> api = LoadApi();
  if (!api.ok()) return api.status();
  Impl& m = *impl_;
  m.api = api.value();
  m.testbed = m.api->testbed_new();
  gchar* root = m.api->get_root_dir(m.testbed);
  m.root = root;
  m.api->free(root);
  m.handler = m.api->ioctl_base_new();
  m.api->signal_connect(m.handler, "handle-ioctl", reinterpret_cast<GCallback>(&Impl::OnIoctl), &m, nullptr, static_cast<GConnectFlags>(0));
  GError* err = nullptr;
  // The handler first, then the device (umockdev issue #173).
  if (!m.api->attach_ioctl(m.testbed, "/dev/bus/usb/001/001", m.handler, &err)) {
    std::string msg = err ? err->message : "unknown error";
    if (err) m.api->error_free(err);
    return Status::Error("PTP_NO_UMOCKDEV", "umockdev could not attach the USB device: " + msg);
  }
  const VirtualUsbOptions& o = m.opts;
  char ids[64];
  std::snprintf(ids, sizeof(ids), "%04x/%04x/100", o.vendor_id, o.product_id);
  char vid[8], pid[8];
  std::snprintf(vid, sizeof(vid), "%04x", o.vendor_id);
  std::snprintf(pid, sizeof(pid), "%04x", o.product_id);
  const std::string record = std::string("P: /devices/pci0000:00/0000:00:14.0/usb1\nN: bus/usb/001/001\n") +
                             "E: SUBSYSTEM=usb\nE: DRIVER=usb\nE: DEVTYPE=usb_device\nE: DEVNAME=/dev/bus/usb/001/001\n" +
                             "E: BUSNUM=001\nE: DEVNUM=001\nE: PRODUCT=" + ids + "\nE: TYPE=0/0/0\n" +
                             "A: busnum=1\\n\nA: devnum=1\\n\nA: speed=480\\n\nA: bConfigurationValue=1\\n\nA: bNumConfigurations=1\\n\n" +
                             "A: bDeviceClass=00\\n\nA: idVendor=" + vid + "\\n\nA: idProduct=" + pid + "\\n\n" + "A: manufacturer=" + o.manufacturer +
                             "\\n\nA: product=" + o.product + "\\n\nA: serial=" + o.serial + "\\n\n" + "H: descriptors=" + Hex(Descriptors(o)) + "\n";
  if (!m.api->add_from_string(m.testbed, record.c_str(), &err)) {
    std::string msg = err ? err->message : "unknown error";
    if (err) m.api->error_free(err);
    return Status::Error("PTP_NO_UMOCKDEV", "umockdev refused the device record: " + msg);
  }
  m.running = true;
  m.watcher.Start();
  m.session = std::thread([&m] {
    while (m.running) {
      (void)m.responder.Serve(m.function);  // each host's session, one after another
    }
  });
  return Status::Ok();
}

void VirtualUsbCamera::Stop() {
  Impl& m = *impl_;
  if (!m.running.exchange(false)) return;
  m.watcher.Stop();
  m.function.Disconnect();
  if (m.session.joinable()) m.session.join();
  if (m.handler) m.api->object_unref(m.handler);
  if (m.testbed) m.api->object_unref(m.testbed);  // removes the testbed directory
  m.handler = nullptr;
  m.testbed = nullptr;
}

std::map<std::string, std::string> VirtualUsbCamera::ClientEnvironment() const {
  return {{"LD_PRELOAD", "libumockdev-preload.so.0"}, {"UMOCKDEV_DIR", impl_->root}};
}

bool VirtualUsbSupported() { return true; }

}  // namespace ptp
}  // namespace camwire

#else  // no umockdev headers at build time

namespace camwire {
namespace ptp {
struct VirtualUsbCamera::Impl {};
VirtualUsbCamera::VirtualUsbCamera(Responder&, VirtualUsbOptions) {}
VirtualUsbCamera::~VirtualUsbCamera() = default;
Status VirtualUsbCamera::Start() {
  return Status::Error("PTP_NO_UMOCKDEV", "this camwire was built without umockdev headers (apt-get install libumockdev-dev, then npm rebuild camwire)");
}
void VirtualUsbCamera::Stop() {}
std::map<std::string, std::string> VirtualUsbCamera::ClientEnvironment() const { return {}; }
bool VirtualUsbSupported() { return false; }
}  // namespace ptp
}  // namespace camwire

#endif
