// The app side of PTP over USB, on libusb: find still-image interfaces
// (class 6/1/1) and their endpoints, claim one, and carry the session
// layer's transactions as USB containers over bulk OUT/IN (zero-length
// packets where a container ends on a packet boundary), events from the
// interrupt endpoint, Cancel / Get Device Status class requests, and
// clear-halt after a stall or timeout so the next session starts clean.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ptp/transport.h"

namespace camwire {
namespace ptp {

struct UsbDeviceInfo {
  int bus = 0;
  int address = 0;
  uint16_t vendor_id = 0;
  uint16_t product_id = 0;
  std::string manufacturer;
  std::string product;
  std::string serial;
  bool ptp = false;  // has a 6/1/1 interface
};

// Every device libusb sees (PTP cameras marked).
Result<std::vector<UsbDeviceInfo>> ListUsbDevices();

class UsbInitiatorConnection : public InitiatorTransport {
 public:
  // bus/address 0: the first PTP camera found.
  static Result<std::unique_ptr<UsbInitiatorConnection>> Open(int bus, int address, int timeout_ms);
  ~UsbInitiatorConnection() override;

  Status SendCommand(const Command& c) override;
  Status SendData(uint32_t transaction_id, DataSource& source) override;
  Status ReceiveData(uint32_t transaction_id, DataSink& sink, bool* got_data, Response* early) override;
  Result<Response> ReadResponse() override;
  Result<bool> ReadEvent(Event* e, int timeout_ms) override;

  const UsbDeviceInfo& device() const { return info_; }
  struct Impl;

 private:
  explicit UsbInitiatorConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  UsbDeviceInfo info_;
  uint16_t current_code_ = 0;
};

}  // namespace ptp
}  // namespace camwire
