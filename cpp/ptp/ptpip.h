// PTP/IP (CIPA DC-X005): packet framing, the two-connection handshake, and
// the session layer's transports for both roles over a command/data socket
// and an event socket. Every length from the peer is checked against a
// maximum before anything is allocated; data packets are streamed through in
// bounded chunks whatever length they declare.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ptp/socket.h"
#include "ptp/transport.h"

namespace camwire {
namespace ptp {
namespace ptpip {

enum PacketType : uint32_t {
  kInitCommandRequest = 1,
  kInitCommandAck = 2,
  kInitEventRequest = 3,
  kInitEventAck = 4,
  kInitFail = 5,
  kOperationRequest = 6,
  kOperationResponse = 7,
  kEvent = 8,
  kStartData = 9,
  kData = 10,
  kCancel = 11,
  kEndData = 12,
  kProbeRequest = 13,
  kProbeResponse = 14,
};

enum InitFailReason : uint32_t { kRejected = 1, kBusy = 2, kUnspecified = 3 };

constexpr uint32_t kProtocolVersion = 0x00010000;
constexpr size_t kMaxControlPayload = 64 * 1024;  // anything but data packets
constexpr size_t kChunk = 1 << 20;                // data chunk camwire sends and reads at a time
constexpr int kPacketTimeoutMs = 10000;           // within a packet or a phase

using Guid = std::array<uint8_t, 16>;

struct Packet {
  uint32_t type = 0;
  std::vector<uint8_t> payload;
};

// Reads one whole non-data packet (payload at most max bytes).
Result<Packet> ReadPacket(Socket& s, size_t max, int timeout_ms);
Status WritePacket(Socket& s, uint32_t type, const std::vector<uint8_t>& payload, int timeout_ms);

struct InitCommand {
  Guid guid{};
  std::string name;
  uint32_t version = kProtocolVersion;
};
std::vector<uint8_t> PackInitCommand(const InitCommand& c);  // payload of a request (type 1)
Result<InitCommand> UnpackInitCommand(const std::vector<uint8_t>& payload);
std::vector<uint8_t> PackInitAck(uint32_t connection, const InitCommand& c);
Result<InitCommand> UnpackInitAck(const std::vector<uint8_t>& payload, uint32_t* connection);

// The responder's side: commands on `cmd`, events on `event`.
class ResponderConnection : public ResponderTransport {
 public:
  ResponderConnection(Socket cmd, Socket event) : cmd_(std::move(cmd)), event_(std::move(event)) {}
  Result<Command> ReadCommand() override;
  Status SendData(uint32_t transaction_id, DataSource& source) override;
  Status ReceiveData(uint32_t transaction_id, DataSink& sink, uint64_t max) override;
  Status SendResponse(const Response& r) override;
  Status SendEvent(const Event& e) override;
  void Shutdown();
  // How long ReadCommand waits between operations (default: an hour).
  void set_idle_timeout_ms(int ms) { idle_timeout_ms_ = ms; }

 private:
  Socket cmd_;
  Socket event_;
  std::mutex event_mu_;
  int idle_timeout_ms_ = 3600 * 1000;
};

// The initiator's side, after Connect().
class InitiatorConnection : public InitiatorTransport {
 public:
  // Connects both sockets and runs the handshake. timeout_ms bounds each step.
  static Result<std::unique_ptr<InitiatorConnection>> Connect(const std::string& host, uint16_t port, const InitCommand& me, int timeout_ms,
                                                              InitCommand* responder);
  Status SendCommand(const Command& c) override;
  Status SendData(uint32_t transaction_id, DataSource& source) override;
  Status ReceiveData(uint32_t transaction_id, DataSink& sink, bool* got_data, Response* early) override;
  Result<Response> ReadResponse() override;
  Result<bool> ReadEvent(Event* e, int timeout_ms) override;
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

 private:
  InitiatorConnection(Socket cmd, Socket event) : cmd_(std::move(cmd)), event_(std::move(event)) {}
  Socket cmd_;
  Socket event_;
  int timeout_ms_ = kPacketTimeoutMs;
};

}  // namespace ptpip
}  // namespace ptp
}  // namespace camwire
