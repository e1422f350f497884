#include "ptp/ptpip_server.h"

#include "ptp/wire.h"

namespace camwire {
namespace ptp {

using namespace ptpip;

PtpIpServer::PtpIpServer(Responder& responder, DirectoryStorage& storage, PtpIpServerOptions o, Log log)
    : responder_(responder), storage_(storage), o_(std::move(o)), log_(std::move(log)), watcher_(storage, responder, o_.scan_interval_ms) {}

PtpIpServer::~PtpIpServer() { Stop(); }

Status PtpIpServer::Start() {
  Status s = storage_.Scan();
  if (!s.ok()) return s;
  Result<Listener> l = Listener::Bind(o_.host, o_.port);
  if (!l.ok()) return l.status();
  listener_ = std::move(l).value();
  port_ = listener_.port();
  running_ = true;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  watcher_.Start();
  return Status::Ok();
}

void PtpIpServer::Stop() {
  if (!running_.exchange(false)) return;
  listener_.Shutdown();
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    // Handshakes in progress end within their deadline (and start no session once
    // running_ is false), so the session shut down below is the last one.
    std::unique_lock<std::mutex> lock(hs_mu_);
    hs_cv_.wait(lock, [this] { return handshakes_ == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_) active_->Shutdown();
  }
  watcher_.Stop();
  if (session_thread_.joinable()) session_thread_.join();
  listener_.Close();
}

void PtpIpServer::AcceptLoop() {
  while (running_) {
    Result<Socket> s = listener_.Accept(200);
    if (!s.ok()) {
      if (log_) log_("error", s.status().message());
      continue;
    }
    if (!s.value().valid()) continue;
    // Each connection's first packet is awaited on its own thread, so a peer that
    // connects and says nothing delays no one; at most kMaxHandshakes at a time.
    {
      std::lock_guard<std::mutex> lock(hs_mu_);
      if (handshakes_ >= kMaxHandshakes) {
        if (log_) log_("rejected", "more than " + std::to_string(kMaxHandshakes) + " handshakes in progress");
        continue;  // closes the socket
      }
      ++handshakes_;
    }
    auto sock = std::make_shared<Socket>(std::move(s).value());
    std::thread([this, sock] {
      HandleFirstPacket(std::move(*sock));
      std::lock_guard<std::mutex> lock(hs_mu_);
      if (--handshakes_ == 0) hs_cv_.notify_all();
    }).detach();
  }
}

void PtpIpServer::HandleFirstPacket(Socket s) {
  Result<Packet> p = ReadPacket(s, kMaxControlPayload, o_.first_packet_timeout_ms);
  if (!p.ok()) {
    if (log_) log_("rejected", "handshake: " + p.status().message());
    return;  // closes the socket
  }
  auto fail = [&](uint32_t reason) {
    Writer w;
    w.U32(reason);
    WritePacket(s, kInitFail, w.bytes(), o_.handshake_timeout_ms);
  };
  if (p.value().type == kInitCommandRequest) {
    Result<InitCommand> req = UnpackInitCommand(p.value().payload);
    if (!req.ok()) {
      if (log_) log_("rejected", req.status().message());
      fail(kUnspecified);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (busy_) {
      if (log_) log_("busy", "a second initiator (" + req.value().name + ") while a session is open");
      fail(kBusy);
      return;
    }
    InitCommand me;
    me.guid = o_.guid;
    me.name = o_.name;
    const uint32_t number = next_connection_++;
    Status st = WritePacket(s, kInitCommandAck, PackInitAck(number, me), o_.handshake_timeout_ms);
    if (!st.ok()) return;
    // A previous initiator that gave up mid-handshake is simply replaced.
    pending_number_ = number;
    pending_cmd_ = std::move(s);
    if (log_) log_("handshake", req.value().name);
    return;
  }
  if (p.value().type == kInitEventRequest) {
    uint32_t number = 0;
    Reader(p.value().payload).U32(&number);
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_ || busy_ || number == 0 || number != pending_number_ || !pending_cmd_.valid()) {
      fail(busy_ || !running_ ? kBusy : kUnspecified);
      return;
    }
    Status st = WritePacket(s, kInitEventAck, {}, o_.handshake_timeout_ms);
    if (!st.ok()) return;
    auto conn = std::make_shared<ResponderConnection>(std::move(pending_cmd_), std::move(s));
    pending_number_ = 0;
    busy_ = true;
    active_ = conn;
    if (session_thread_.joinable()) session_thread_.join();  // the previous session has ended (busy_ was false)
    session_thread_ = std::thread([this, conn] {
      if (log_) log_("connected", "");
      Status r = responder_.Serve(*conn);
      {
        std::lock_guard<std::mutex> l2(mu_);
        busy_ = false;
        active_.reset();
      }
      if (log_) log_("session-ended", r.ok() ? "" : r.code() + ": " + r.message());
    });
    return;
  }
  if (log_) log_("rejected", "first packet of type " + std::to_string(p.value().type));
  fail(kUnspecified);
}

}  // namespace ptp
}  // namespace camwire
