// The simulated camera on PTP/IP: listens (127.0.0.1 by default), takes the
// two-connection handshake (sockets told apart by their first packet, not by
// accept order; each awaited on its own thread with a 1 s deadline, so idle
// sockets lock no one out), serves one session at a time through the
// Responder, answers a second initiator with Init Fail "busy", and watches the storage directory
// so files that appear become ObjectAdded events.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ptp/ptpip.h"
#include "ptp/responder.h"
#include "ptp/storage.h"

namespace camwire {
namespace ptp {

struct PtpIpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 15740;  // 0: any free port
  ptpip::Guid guid{};
  std::string name = "camwire";
  int first_packet_timeout_ms = 1000;  // a connection that sends no Init request within this is closed
  int handshake_timeout_ms = 2500;     // writing the handshake's answers
  int scan_interval_ms = 500;
};

class PtpIpServer {
 public:
  // log(kind, detail): "connected", "busy", "rejected", "session-ended", "error".
  using Log = std::function<void(const std::string& kind, const std::string& detail)>;
  PtpIpServer(Responder& responder, DirectoryStorage& storage, PtpIpServerOptions o, Log log);
  ~PtpIpServer();

  Status Start();
  void Stop();
  uint16_t port() const { return port_; }

 private:
  void AcceptLoop();
  void HandleFirstPacket(Socket s);

  Responder& responder_;
  DirectoryStorage& storage_;
  PtpIpServerOptions o_;
  Log log_;
  Listener listener_;
  uint16_t port_ = 0;
  std::atomic<bool> running_{false};
  std::thread accept_thread_;
  StorageWatcher watcher_;
  std::thread session_thread_;
  static constexpr int kMaxHandshakes = 32;
  std::mutex hs_mu_;
  std::condition_variable hs_cv_;
  int handshakes_ = 0;
  std::mutex mu_;
  bool busy_ = false;
  uint32_t next_connection_ = 1;
  // A command connection waiting for its event connection.
  uint32_t pending_number_ = 0;
  Socket pending_cmd_;
  std::shared_ptr<ptpip::ResponderConnection> active_;
};

}  // namespace ptp
}  // namespace camwire
