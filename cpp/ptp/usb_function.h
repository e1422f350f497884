// PTP over USB, device side, at the level of bulk and interrupt transfers:
// the simulated camera's USB function. It implements ResponderTransport for
// the session layer (the same Responder as PTP/IP) and offers the transfer
// side to whatever carries URBs (the umockdev glue): bytes the host sends on
// bulk OUT are parsed into containers, and each container the camera sends
// is one bulk IN transfer, cut to the host's URB sizes, ending in a short
// packet or, when it fills whole max-size packets, a zero-length packet.
// Nothing is buffered whole: data phases flow through a bounded queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "ptp/transport.h"

namespace camwire {
namespace ptp {
namespace usb {

enum ContainerType : uint16_t { kCommand = 1, kData = 2, kResponse = 3, kEvent = 4 };
constexpr size_t kHeader = 12;

// A container header (the first 12 bytes).
struct ContainerHeader {
  uint32_t length = 0;
  uint16_t type = 0;
  uint16_t code = 0;
  uint32_t transaction_id = 0;
};
std::vector<uint8_t> PackHeader(const ContainerHeader& h);
bool UnpackHeader(const uint8_t* p, size_t n, ContainerHeader* h);
// A whole container that carries parameters (command, response, event).
std::vector<uint8_t> PackContainer(uint16_t type, uint16_t code, uint32_t transaction_id, const std::vector<uint32_t>& params);
// The parameters that follow a container header in p[0..n), at most max of them.
std::vector<uint32_t> UnpackParams(const uint8_t* p, size_t n, size_t max);

class Function : public ResponderTransport {
 public:
  explicit Function(size_t max_packet = 512, size_t queue_bytes = 1u << 20) : max_packet_(max_packet), queue_limit_(queue_bytes) {}

  // ---- the session layer's side (Responder thread) ----
  Result<Command> ReadCommand() override;
  Status SendData(uint32_t transaction_id, DataSource& source) override;
  Status ReceiveData(uint32_t transaction_id, DataSink& sink, uint64_t max) override;
  Status SendResponse(const Response& r) override;
  Status SendEvent(const Event& e) override;

  // ---- the URB side (any thread) ----
  // Bytes of one bulk OUT transfer from the host.
  void BulkOut(const uint8_t* data, size_t size);
  // Fills an IN URB of `capacity` bytes; returns how many bytes it carries,
  // or -1 when nothing is ready yet (the URB stays pending).
  long BulkIn(uint8_t* out, size_t capacity);
  // An event container for the interrupt endpoint, or false when none.
  bool InterruptIn(std::vector<uint8_t>* container);
  // The host went away (device reset, close): wakes the session with PTP_CLOSED.
  void Disconnect();
  // A new host took the interface: whatever the last one left is dropped and
  // the session layer is woken (it starts over with the next command).
  void Reset();
  // Class request Cancel (0x64): abandons the current data phase.
  void Cancel(uint32_t transaction_id);
  // Class request Get Device Status (0x67): OK (0x2001), or Busy while a phase runs.
  uint16_t DeviceStatus() const;

 private:
  Status Queue(const uint8_t* data, size_t size, bool end_of_transfer);
  Status ReadOut(uint8_t* dst, size_t n, int timeout_ms);

  size_t max_packet_;
  size_t queue_limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Host -> device bytes not yet consumed.
  std::deque<uint8_t> out_;
  // Device -> host: pending IN bytes, and where transfers end.
  std::deque<uint8_t> in_;
  std::deque<size_t> transfer_ends_;  // absolute positions in the IN stream where a transfer ends
  uint64_t in_taken_ = 0;             // bytes handed to URBs so far
  uint64_t in_queued_ = 0;            // bytes ever queued
  uint64_t last_end_ = 0;             // where the previous transfer ended
  size_t wanted_ = 0;                 // capacity of an IN URB waiting for more bytes
  bool zlp_due_ = false;
  std::deque<std::vector<uint8_t>> events_;
  bool closed_ = false;
  bool cancelled_ = false;
  bool in_phase_ = false;
  uint16_t current_code_ = 0;  // the operation being served (data containers repeat it)
};

}  // namespace usb
}  // namespace ptp
}  // namespace camwire
