#include "ptp/usb_initiator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "ptp/usb_function.h"
#include "ptp/wire.h"

#ifdef CAMWIRE_WITH_LIBUSB
#include <libusb.h>
#endif

namespace camwire {
namespace ptp {

#ifdef CAMWIRE_WITH_LIBUSB

namespace {

constexpr size_t kTransfer = 1u << 20;  // a multiple of every max packet size

Status UsbError(const char* what, int rc) {
  if (rc == LIBUSB_ERROR_TIMEOUT) return Status::Error("PTP_TIMEOUT", std::string(what) + ": the camera did not answer in time");
  if (rc == LIBUSB_ERROR_NO_DEVICE) return Status::Error("PTP_CLOSED", std::string(what) + ": the camera is gone");
  if (rc == LIBUSB_ERROR_PIPE) return Status::Error("PTP_STALL", std::string(what) + ": the endpoint stalled");
  if (rc == LIBUSB_ERROR_ACCESS) return Status::Error("PTP_USB_ACCESS", std::string(what) + ": no permission for the USB device (udev rules, or run as root)");
  return Status::Error("PTP_USB", std::string(what) + ": " + libusb_error_name(rc));
}

struct Interface {
  int number = -1;
  uint8_t in = 0, out = 0, intr = 0;
  uint16_t max_packet = 512;
};

bool FindPtpInterface(libusb_device* dev, Interface* out) {
  libusb_config_descriptor* cfg = nullptr;
  if (libusb_get_active_config_descriptor(dev, &cfg) != 0 && libusb_get_config_descriptor(dev, 0, &cfg) != 0) return false;
  bool found = false;
  for (int i = 0; i < cfg->bNumInterfaces && !found; ++i) {
    for (int a = 0; a < cfg->interface[i].num_altsetting && !found; ++a) {
      const libusb_interface_descriptor& d = cfg->interface[i].altsetting[a];
      if (d.bInterfaceClass != 6 || d.bInterfaceSubClass != 1 || d.bInterfaceProtocol != 1) continue;
      Interface f;
      f.number = d.bInterfaceNumber;
      for (int e = 0; e < d.bNumEndpoints; ++e) {
        const libusb_endpoint_descriptor& ep = d.endpoint[e];
        const int type = ep.bmAttributes & 3;
        if (type == LIBUSB_TRANSFER_TYPE_BULK && (ep.bEndpointAddress & 0x80)) {
          f.in = ep.bEndpointAddress;
          f.max_packet = ep.wMaxPacketSize;
        } else if (type == LIBUSB_TRANSFER_TYPE_BULK) {
          f.out = ep.bEndpointAddress;
        } else if (type == LIBUSB_TRANSFER_TYPE_INTERRUPT && (ep.bEndpointAddress & 0x80)) {
          f.intr = ep.bEndpointAddress;
        }
      }
      if (f.in && f.out) {
        *out = f;
        found = true;
      }
    }
  }
  libusb_free_config_descriptor(cfg);
  return found;
}

std::string StringOf(libusb_device_handle* h, uint8_t index) {
  if (!h || !index) return "";
  unsigned char buf[256];
  const int n = libusb_get_string_descriptor_ascii(h, index, buf, sizeof(buf));
  return n > 0 ? std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n)) : "";
}

}  // namespace

struct UsbInitiatorConnection::Impl {
  libusb_context* ctx = nullptr;
  libusb_device_handle* handle = nullptr;
  Interface intf;
  int timeout_ms = 5000;
  std::vector<uint8_t> buf = std::vector<uint8_t>(kTransfer);

  ~Impl() {
    if (handle) {
      libusb_release_interface(handle, intf.number);
      libusb_close(handle);
    }
    if (ctx) libusb_exit(ctx);
  }

  Status Out(const uint8_t* data, size_t n) {
    int done = 0;
    const int rc = libusb_bulk_transfer(handle, intf.out, const_cast<uint8_t*>(data), static_cast<int>(n), &done, timeout_ms);
    if (rc != 0) {
      Recover();
      return UsbError("bulk OUT", rc);
    }
    if (static_cast<size_t>(done) != n) return Status::Error("PTP_USB", "bulk OUT took " + std::to_string(done) + " of " + std::to_string(n) + " bytes");
    return Status::Ok();
  }

  // One IN transfer into buf (up to cap); returns bytes read.
  Result<size_t> In(size_t cap) {
    int got = 0;
    const int rc = libusb_bulk_transfer(handle, intf.in, buf.data(), static_cast<int>(cap), &got, timeout_ms);
    if (rc != 0) {
      Recover();
      return UsbError("bulk IN", rc);
    }
    return static_cast<size_t>(got);
  }

  uint32_t transaction = 0;  // the one in progress (for Cancel)

  // After a timeout or a stall: the class request Cancel for the transaction
  // in progress, Get Device Status until the camera is ready (briefly), then
  // clear-halt, so the endpoints start clean for the next transaction or session.
  void Recover() {
    unsigned char cancel[6] = {0x01,
                               0x40,
                               static_cast<unsigned char>(transaction),
                               static_cast<unsigned char>(transaction >> 8),
                               static_cast<unsigned char>(transaction >> 16),
                               static_cast<unsigned char>(transaction >> 24)};
    libusb_control_transfer(handle, 0x21, 0x64, 0, static_cast<uint16_t>(intf.number), cancel, sizeof(cancel), 1000);
    for (int i = 0; i < 10; ++i) {
      unsigned char status[8] = {0};
      const int n = libusb_control_transfer(handle, 0xA1, 0x67, 0, static_cast<uint16_t>(intf.number), status, sizeof(status), 1000);
      if (n < 4 || (status[2] | (status[3] << 8)) != 0x2019) break;  // not busy (or no answer): go on
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    libusb_clear_halt(handle, intf.in);
    libusb_clear_halt(handle, intf.out);
  }
};

Result<std::vector<UsbDeviceInfo>> ListUsbDevices() {
  libusb_context* ctx = nullptr;
  int rc = libusb_init(&ctx);
  if (rc != 0) return UsbError("libusb_init", rc);
  libusb_device** list = nullptr;
  const ssize_t n = libusb_get_device_list(ctx, &list);
  std::vector<UsbDeviceInfo> out;
  for (ssize_t i = 0; i < n; ++i) {
    libusb_device_descriptor d{};
    if (libusb_get_device_descriptor(list[i], &d) != 0) continue;
    UsbDeviceInfo info;
    info.bus = libusb_get_bus_number(list[i]);
    info.address = libusb_get_device_address(list[i]);
    info.vendor_id = d.idVendor;
    info.product_id = d.idProduct;
    Interface intf;
    info.ptp = FindPtpInterface(list[i], &intf);
    libusb_device_handle* h = nullptr;
    if (libusb_open(list[i], &h) == 0) {
      info.manufacturer = StringOf(h, d.iManufacturer);
      info.product = StringOf(h, d.iProduct);
      info.serial = StringOf(h, d.iSerialNumber);
      libusb_close(h);
    }
    out.push_back(info);
  }
  if (list) libusb_free_device_list(list, 1);
  libusb_exit(ctx);
  return out;
}

Result<std::unique_ptr<UsbInitiatorConnection>> UsbInitiatorConnection::Open(int bus, int address, int timeout_ms) {
  std::unique_ptr<Impl> m(new Impl());
  m->timeout_ms = timeout_ms;
  int rc = libusb_init(&m->ctx);
  if (rc != 0) return UsbError("libusb_init", rc);
  libusb_device** list = nullptr;
  const ssize_t n = libusb_get_device_list(m->ctx, &list);
  libusb_device* chosen = nullptr;
  UsbDeviceInfo info;
  for (ssize_t i = 0; i < n && !chosen; ++i) {
    const int b = libusb_get_bus_number(list[i]);
    const int a = libusb_get_device_address(list[i]);
    if (bus && (b != bus || a != address)) continue;
    Interface intf;
    if (!FindPtpInterface(list[i], &intf)) continue;
    chosen = list[i];
    m->intf = intf;
    info.bus = b;
    info.address = a;
    info.ptp = true;
  }
  if (!chosen) {
    if (list) libusb_free_device_list(list, 1);
    return Status::Error("PTP_NO_DEVICE", bus ? "no PTP camera (USB class 6/1/1) at usb:" + std::to_string(bus) + ":" + std::to_string(address)
                                              : std::string("no PTP camera (USB class 6/1/1) found; camwire ptp devices lists what libusb sees"));
  }
  rc = libusb_open(chosen, &m->handle);
  libusb_free_device_list(list, 1);
  if (rc != 0) return UsbError("open", rc);
  libusb_set_auto_detach_kernel_driver(m->handle, 1);
  rc = libusb_claim_interface(m->handle, m->intf.number);
  if (rc != 0) return UsbError("claim interface", rc);
  std::unique_ptr<UsbInitiatorConnection> c(new UsbInitiatorConnection(std::move(m)));
  c->info_ = info;
  return c;
}

UsbInitiatorConnection::UsbInitiatorConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UsbInitiatorConnection::~UsbInitiatorConnection() = default;

Status UsbInitiatorConnection::SendCommand(const Command& c) {
  current_code_ = c.code;
  impl_->transaction = c.transaction_id;
  const std::vector<uint8_t> container = usb::PackContainer(usb::kCommand, c.code, c.transaction_id, c.params);
  return impl_->Out(container.data(), container.size());
}

Status UsbInitiatorConnection::SendData(uint32_t tid, DataSource& source) {
  const uint64_t total = source.Size();
  const uint64_t length = total + usb::kHeader;
  usb::ContainerHeader h{length > 0xFFFFFFFEull ? 0xFFFFFFFFu : static_cast<uint32_t>(length), usb::kData, current_code_, tid};
  std::vector<uint8_t>& buf = impl_->buf;
  std::vector<uint8_t> head = usb::PackHeader(h);
  std::copy(head.begin(), head.end(), buf.begin());
  size_t fill = usb::kHeader;
  uint64_t sent = 0;
  for (;;) {
    while (fill < buf.size() && sent < total) {
      Result<size_t> r = source.Read(buf.data() + fill, static_cast<size_t>(std::min<uint64_t>(buf.size() - fill, total - sent)));
      if (!r.ok()) return r.status();
      if (r.value() == 0) return Status::Error("PTP_IO", "the data ended early");
      fill += r.value();
      sent += r.value();
    }
    Status s = impl_->Out(buf.data(), fill);
    if (!s.ok()) return s;
    fill = 0;
    if (sent == total) break;
  }
  // A container of whole packets is ended by a zero-length packet.
  if (length % impl_->intf.max_packet == 0) return impl_->Out(buf.data(), 0);
  return Status::Ok();
}

Status UsbInitiatorConnection::ReceiveData(uint32_t tid, DataSink& sink, bool* got_data, Response* early) {
  *got_data = false;
  Result<size_t> n = impl_->In(impl_->buf.size());
  if (!n.ok()) return n.status();
  usb::ContainerHeader h;
  if (!usb::UnpackHeader(impl_->buf.data(), n.value(), &h)) return Status::Error("PTP_BAD_PACKET", "a USB transfer shorter than a container header");
  if (h.type == usb::kResponse) {
    early->code = h.code;
    early->transaction_id = h.transaction_id;
    early->params = usb::UnpackParams(impl_->buf.data(), n.value(), 5);
    return Status::Ok();
  }
  if (h.type != usb::kData) return Status::Error("PTP_BAD_PACKET", "a container of type " + std::to_string(h.type) + " where data was expected");
  if (h.transaction_id != tid) return Status::Error("PTP_BAD_PACKET", "data for transaction " + std::to_string(h.transaction_id));
  if (h.length < usb::kHeader || h.length == 0xFFFFFFFFu) return Status::Error("PTP_BAD_PACKET", "a data container of unknown or impossible length");
  *got_data = true;
  const uint64_t total = h.length - usb::kHeader;
  Status s = sink.Begin(total);
  if (!s.ok()) return s;
  size_t first = n.value() - usb::kHeader;
  if (first > total) return Status::Error("PTP_BAD_PACKET", "more data than the container announced");
  s = sink.Write(impl_->buf.data() + usb::kHeader, first);
  if (!s.ok()) return s;
  uint64_t got = first;
  size_t last = n.value();
  while (got < total) {
    Result<size_t> k = impl_->In(impl_->buf.size());
    if (!k.ok()) return k.status();
    if (k.value() == 0)
      return Status::Error("PTP_INCOMPLETE", "the data container ended after " + std::to_string(got) + " of " + std::to_string(total) + " bytes");
    if (got + k.value() > total) return Status::Error("PTP_BAD_PACKET", "more data than the container announced");
    s = sink.Write(impl_->buf.data(), k.value());
    if (!s.ok()) return s;
    got += k.value();
    last = k.value();
  }
  // The last transfer filled its buffer on a packet boundary: a zero-length packet follows.
  if (last == impl_->buf.size() && h.length % impl_->intf.max_packet == 0) {
    Result<size_t> z = impl_->In(impl_->buf.size());
    if (!z.ok()) return z.status();
    if (z.value() != 0) return Status::Error("PTP_BAD_PACKET", "bytes after the end of a data container");
  }
  return Status::Ok();
}

Result<Response> UsbInitiatorConnection::ReadResponse() {
  Result<size_t> n = impl_->In(impl_->buf.size());
  if (!n.ok()) return n.status();
  usb::ContainerHeader h;
  if (!usb::UnpackHeader(impl_->buf.data(), n.value(), &h) || h.type != usb::kResponse) {
    return Status::Error("PTP_BAD_PACKET", "a USB transfer that is not a response container");
  }
  Response r;
  r.code = h.code;
  r.transaction_id = h.transaction_id;
  r.params = usb::UnpackParams(impl_->buf.data(), n.value(), 5);
  return r;
}

Result<bool> UsbInitiatorConnection::ReadEvent(Event* e, int timeout_ms) {
  if (!impl_->intf.intr) return false;
  uint8_t b[64];
  int got = 0;
  const int rc = libusb_interrupt_transfer(impl_->handle, impl_->intf.intr, b, sizeof(b), &got, timeout_ms);
  if (rc == LIBUSB_ERROR_TIMEOUT) return false;
  if (rc != 0) return UsbError("interrupt IN", rc);
  usb::ContainerHeader h;
  if (!usb::UnpackHeader(b, static_cast<size_t>(got), &h) || h.type != usb::kEvent)
    return Status::Error("PTP_BAD_PACKET", "an interrupt transfer that is not an event");
  e->code = h.code;
  e->transaction_id = h.transaction_id;
  e->params = usb::UnpackParams(b, static_cast<size_t>(got), 3);
  return true;
}

#else

Result<std::vector<UsbDeviceInfo>> ListUsbDevices() { return Status::Error("PTP_NO_LIBUSB", "this camwire was built without libusb"); }
struct UsbInitiatorConnection::Impl {};
Result<std::unique_ptr<UsbInitiatorConnection>> UsbInitiatorConnection::Open(int, int, int) {
  return Status::Error("PTP_NO_LIBUSB", "this camwire was built without libusb (apt-get install libusb-1.0-0-dev, then rebuild)");
}
UsbInitiatorConnection::UsbInitiatorConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UsbInitiatorConnection::~UsbInitiatorConnection() = default;
Status UsbInitiatorConnection::SendCommand(const Command&) { return Status::Error("PTP_NO_LIBUSB", "no libusb"); }
Status UsbInitiatorConnection::SendData(uint32_t, DataSource&) { return Status::Error("PTP_NO_LIBUSB", "no libusb"); }
Status UsbInitiatorConnection::ReceiveData(uint32_t, DataSink&, bool*, Response*) { return Status::Error("PTP_NO_LIBUSB", "no libusb"); }
Result<Response> UsbInitiatorConnection::ReadResponse() { return Status::Error("PTP_NO_LIBUSB", "no libusb"); }
Result<bool> UsbInitiatorConnection::ReadEvent(Event*, int) { return Status::Error("PTP_NO_LIBUSB", "no libusb"); }

#endif

}  // namespace ptp
}  // namespace camwire
