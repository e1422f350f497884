// The simulated camera as a virtual USB still-image device (class 6/1/1) that
// unmodified libusb programs (gphoto2, the user's own app, camwire's own USB
// initiator) find and talk to, with no USB in the kernel: umockdev's preload
// library redirects /sys and /dev for the client process, and every usbdevfs
// ioctl it makes arrives here, where URBs are answered from a usb::Function
// (the same Responder as over PTP/IP).
//
// libumockdev is loaded with dlopen when a virtual camera starts, so it stays
// an optional system dependency (apt-get install umockdev) with a clear error
// when missing; camwire only needs its headers at build time.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "ptp/responder.h"
#include "ptp/usb_function.h"

namespace camwire {
namespace ptp {

struct VirtualUsbOptions {
  uint16_t vendor_id = 0x1d50;
  uint16_t product_id = 0x6666;
  std::string manufacturer = "camwire";
  std::string product = "camwire simulated camera";
  std::string serial = "CW0000000001";
};

class VirtualUsbCamera {
 public:
  VirtualUsbCamera(Responder& responder, VirtualUsbOptions o);
  ~VirtualUsbCamera();

  // Creates the testbed and the device; runs the session layer on a thread.
  Status Start();
  void Stop();
  // What a client process needs in its environment: LD_PRELOAD and UMOCKDEV_DIR.
  std::map<std::string, std::string> ClientEnvironment() const;
  // "usb:001,001" as gphoto2 names the port.
  std::string Port() const { return "usb:001,001"; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether this build has the umockdev glue at all (headers were present).
bool VirtualUsbSupported();

}  // namespace ptp
}  // namespace camwire
