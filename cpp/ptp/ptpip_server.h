// The simulated camera on PTP/IP: listens (127.0.0.1 by default), takes the
// two-connection handshake (sockets told apart by their first packet, not by
// accept order), serves one session at a time through the Responder, answers
// a second initiator with Init Fail "busy", and watches the storage directory
// so files that appear become ObjectAdded events.
#pragma once

#include <atomic>
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
  int handshake_timeout_ms = 2500;
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
