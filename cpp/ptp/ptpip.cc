#include "ptp/ptpip.h"

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ptp/wire.h"

namespace camwire {
namespace ptp {

Result<size_t> BufferSource::Read(uint8_t* buf, size_t max) {
  const size_t n = std::min(max, b_.size() - off_);
  std::memcpy(buf, b_.data() + off_, n);
  off_ += n;
  return n;
}

Status WriteFully(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t r = ::write(fd, data, size);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::Error("PTP_IO", std::string("write: ") + std::strerror(errno));
    data += r;
    size -= static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status BufferSink::Begin(uint64_t total) {
  if (total > limit_) {
    return Status::Error("PTP_TOO_LARGE", "a data phase of " + std::to_string(total) + " bytes; at most " + std::to_string(limit_) + " expected here");
  }
  b_.reserve(static_cast<size_t>(total));
  return Status::Ok();
}

Status BufferSink::Write(const uint8_t* data, size_t size) {
  if (b_.size() + size > limit_) return Status::Error("PTP_TOO_LARGE", "a data phase larger than " + std::to_string(limit_) + " bytes");
  b_.insert(b_.end(), data, data + size);
  return Status::Ok();
}

namespace ptpip {

namespace {

Status BadPacket(const std::string& what) { return Status::Error("PTP_BAD_PACKET", what); }

struct Header {
  uint32_t length = 0;
  uint32_t type = 0;
};

Result<Header> ReadHeader(Socket& s, int timeout_ms) {
  uint8_t h[8];
  Status st = s.ReadExact(h, 8, timeout_ms);
  if (!st.ok()) return st;
  Reader r(h, 8);
  Header out;
  r.U32(&out.length);
  r.U32(&out.type);
  if (out.length < 8) return BadPacket("a PTP/IP packet declares " + std::to_string(out.length) + " bytes, less than its own header");
  return out;
}

void PutHeader(uint8_t* h, uint32_t length, uint32_t type) {
  for (int i = 0; i < 4; ++i) h[i] = static_cast<uint8_t>(length >> (8 * i));
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<uint8_t>(type >> (8 * i));
}

const char* TypeName(uint32_t t) {
  switch (t) {
    case kInitCommandRequest:
      return "Init Command Request";
    case kInitCommandAck:
      return "Init Command Ack";
    case kInitEventRequest:
      return "Init Event Request";
    case kInitEventAck:
      return "Init Event Ack";
    case kInitFail:
      return "Init Fail";
    case kOperationRequest:
      return "Operation Request";
    case kOperationResponse:
      return "Operation Response";
    case kEvent:
      return "Event";
    case kStartData:
      return "Start Data";
    case kData:
      return "Data";
    case kCancel:
      return "Cancel";
    case kEndData:
      return "End Data";
    case kProbeRequest:
      return "Probe Request";
    case kProbeResponse:
      return "Probe Response";
    default:
      return "unknown";
  }
}

// Reads `n` bytes of a data packet's payload into sink, in bounded chunks.
Status Pump(Socket& s, uint64_t n, DataSink& sink, std::vector<uint8_t>& buf, int timeout_ms) {
  int pipe_read = -1;
  int pipe_write = -1;
  const int file = sink.SpliceFds(&pipe_read, &pipe_write);
  if (file >= 0 && n > 0) {
    bool unsupported = false;
    Status st = s.SpliceTo(file, pipe_read, pipe_write, static_cast<size_t>(n), timeout_ms, &unsupported);
    if (!st.ok()) return st;
    if (!unsupported) {
      sink.Advance(static_cast<size_t>(n));
      return Status::Ok();
    }
  }
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, kChunk));
    if (buf.size() < k) buf.resize(k);
    Status st = s.ReadExact(buf.data(), k, timeout_ms);
    if (!st.ok()) return st;
    st = sink.Write(buf.data(), k);
    if (!st.ok()) return st;
    n -= k;
  }
  return Status::Ok();
}

// The Data / End Data packets of a phase announced with `total` bytes: stops
// once they have all arrived (libgphoto2 sends no End Data after a 0-byte Start Data).
Status ReceivePhase(Socket& s, uint32_t tid, uint64_t total, DataSink& sink, int timeout_ms) {
  std::vector<uint8_t> buf;
  uint64_t got = 0;
  while (got < total) {
    Result<Header> h = ReadHeader(s, timeout_ms);
    if (!h.ok()) return h.status();
    if (h.value().type != kData && h.value().type != kEndData) {
      return BadPacket(std::string("a ") + TypeName(h.value().type) + " packet inside a data phase");
    }
    if (h.value().length < 12) return BadPacket("a data packet shorter than its header");
    uint8_t t[4];
    Status st = s.ReadExact(t, 4, timeout_ms);
    if (!st.ok()) return st;
    uint32_t ptid = 0;
    Reader(t, 4).U32(&ptid);
    if (ptid != tid) return BadPacket("a data packet for transaction " + std::to_string(ptid) + " inside transaction " + std::to_string(tid));
    const uint64_t n = h.value().length - 12u;
    if (got + n > total) {
      return BadPacket("the data phase carries more than the " + std::to_string(total) + " bytes announced");
    }
    st = Pump(s, n, sink, buf, timeout_ms);
    if (!st.ok()) return st;
    got += n;
    if (h.value().type == kEndData && got < total) {
      return Status::Error("PTP_INCOMPLETE", "the data phase ended after " + std::to_string(got) + " of " + std::to_string(total) + " bytes");
    }
  }
  return Status::Ok();
}

Status SendPhase(Socket& s, uint32_t tid, DataSource& source, int timeout_ms) {
  const uint64_t total = source.Size();
  Writer start;
  start.U32(20);
  start.U32(kStartData);
  start.U32(tid);
  start.U64(total);
  Status st = s.WriteAll(start.bytes().data(), start.bytes().size(), timeout_ms);
  if (!st.ok()) return st;
  uint64_t file_offset = 0;
  const int fd = source.FileDescriptor(&file_offset);
  if (fd >= 0) {
    // A file: each packet's header, then its bytes straight from the page cache.
    uint64_t sent = 0;
    do {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(total - sent, kChunk));
      uint8_t h[12];
      PutHeader(h, static_cast<uint32_t>(12 + n), sent + n == total ? kEndData : kData);
      for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<uint8_t>(tid >> (8 * i));
      st = s.WriteAll(h, 12, timeout_ms);
      if (!st.ok()) return st;
      st = s.SendFile(fd, file_offset + sent, n, timeout_ms);
      if (!st.ok()) return st;
      source.Advance(n);
      sent += n;
    } while (sent < total);
    return Status::Ok();
  }
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(total, kChunk)));
  uint64_t sent = 0;
  do {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(total - sent, kChunk));
    size_t n = 0;
    while (n < want) {
      Result<size_t> r = source.Read(buf.data() + n, want - n);
      if (!r.ok()) return r.status();
      if (r.value() == 0) return Status::Error("PTP_IO", "the object ended after " + std::to_string(sent + n) + " of " + std::to_string(total) + " bytes");
      n += r.value();
    }
    const bool last = sent + n == total;
    uint8_t h[12];
    PutHeader(h, static_cast<uint32_t>(12 + n), last ? kEndData : kData);
    for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<uint8_t>(tid >> (8 * i));
    st = s.WriteAll2(h, 12, buf.data(), n, timeout_ms);
    if (!st.ok()) return st;
    sent += n;
  } while (sent < total);
  return Status::Ok();
}

// A Start Data packet of this transaction: its announced total.
Status ParseStartData(const Packet& p, uint32_t tid, uint64_t* total) {
  if (p.type != kStartData) return BadPacket(std::string("a ") + TypeName(p.type) + " packet where Start Data was expected");
  Reader r(p.payload);
  uint32_t ptid = 0;
  if (!r.U32(&ptid) || !r.U64(total)) return BadPacket("a short Start Data packet");
  if (ptid != tid) return BadPacket("Start Data for transaction " + std::to_string(ptid) + " inside transaction " + std::to_string(tid));
  return Status::Ok();
}

Result<Command> ParseRequest(const std::vector<uint8_t>& p) {
  Reader r(p);
  Command c;
  uint32_t dp = 0;
  if (!r.U32(&dp) || !r.U16(&c.code) || !r.U32(&c.transaction_id)) return BadPacket("an Operation Request shorter than 18 bytes");
  if (r.left() % 4 != 0 || r.left() / 4 > 5) return BadPacket("an Operation Request with " + std::to_string(r.left()) + " parameter bytes");
  while (r.left() > 0) {
    uint32_t v = 0;
    r.U32(&v);
    c.params.push_back(v);
  }
  c.data_out = dp == 2;
  return c;
}

template <typename T>
Status ParseCodeTidParams(const std::vector<uint8_t>& p, T* out, size_t max_params, const char* what) {
  Reader r(p);
  if (!r.U16(&out->code) || !r.U32(&out->transaction_id)) return BadPacket(std::string("a short ") + what);
  if (r.left() % 4 != 0 || r.left() / 4 > max_params) return BadPacket(std::string("a ") + what + " with " + std::to_string(r.left()) + " parameter bytes");
  out->params.clear();
  while (r.left() > 0) {
    uint32_t v = 0;
    r.U32(&v);
    out->params.push_back(v);
  }
  return Status::Ok();
}

std::vector<uint8_t> CodeTidParams(uint16_t code, uint32_t tid, const std::vector<uint32_t>& params) {
  Writer w;
  w.U16(code);
  w.U32(tid);
  for (uint32_t p : params) w.U32(p);
  return w.bytes();
}

void PutName(Writer& w, const std::string& name) {
  for (char16_t c : Utf8To16(name)) w.U16(static_cast<uint16_t>(c));
  w.U16(0);
}

// A NUL-terminated UTF-16LE name, at most 255 units.
bool GetName(Reader& r, std::string* name) {
  std::u16string u;
  for (;;) {
    uint16_t c = 0;
    if (!r.U16(&c)) return false;
    if (c == 0) break;
    if (u.size() >= 255) return false;
    u.push_back(static_cast<char16_t>(c));
  }
  *name = Utf16To8(u);
  return true;
}

}  // namespace

Result<Packet> ReadPacket(Socket& s, size_t max, int timeout_ms) {
  Result<Header> h = ReadHeader(s, timeout_ms);
  if (!h.ok()) return h.status();
  const size_t n = h.value().length - 8u;
  if (n > max) {
    return BadPacket(std::string("a ") + TypeName(h.value().type) + " packet declares " + std::to_string(h.value().length) + " bytes (at most " +
                     std::to_string(max + 8) + " expected)");
  }
  Packet p;
  p.type = h.value().type;
  p.payload.resize(n);
  Status st = n ? s.ReadExact(p.payload.data(), n, timeout_ms) : Status::Ok();
  if (!st.ok()) return st;
  return p;
}

Status WritePacket(Socket& s, uint32_t type, const std::vector<uint8_t>& payload, int timeout_ms) {
  uint8_t h[8];
  PutHeader(h, static_cast<uint32_t>(8 + payload.size()), type);
  return s.WriteAll2(h, 8, payload.data(), payload.size(), timeout_ms);
}

std::vector<uint8_t> PackInitCommand(const InitCommand& c) {
  Writer w;
  w.Bytes(c.guid.data(), c.guid.size());
  PutName(w, c.name);
  w.U32(c.version);
  return w.bytes();
}

Result<InitCommand> UnpackInitCommand(const std::vector<uint8_t>& payload) {
  Reader r(payload);
  InitCommand c;
  for (auto& b : c.guid) {
    if (!r.U8(&b)) return BadPacket("an Init Command Request without a GUID");
  }
  if (!GetName(r, &c.name)) return BadPacket("an Init Command Request whose friendly name is not NUL-terminated UTF-16");
  if (!r.U32(&c.version)) return BadPacket("an Init Command Request without a protocol version");
  return c;
}

std::vector<uint8_t> PackInitAck(uint32_t connection, const InitCommand& c) {
  Writer w;
  w.U32(connection);
  w.Bytes(c.guid.data(), c.guid.size());
  PutName(w, c.name);
  w.U32(c.version);
  return w.bytes();
}

Result<InitCommand> UnpackInitAck(const std::vector<uint8_t>& payload, uint32_t* connection) {
  Reader r(payload);
  if (!r.U32(connection)) return BadPacket("a short Init Command Ack");
  InitCommand c;
  for (auto& b : c.guid) {
    if (!r.U8(&b)) return BadPacket("an Init Command Ack without a GUID");
  }
  if (!GetName(r, &c.name)) return BadPacket("an Init Command Ack whose name is not NUL-terminated UTF-16");
  r.U32(&c.version);  // libgphoto2 ignores it too
  return c;
}

// ---- responder ----

Result<Command> ResponderConnection::ReadCommand() {
  for (;;) {
    if (!cmd_.Readable(idle_timeout_ms_))
      return Status::Error("PTP_TIMEOUT", "no operation from the initiator for " + std::to_string(idle_timeout_ms_) + " ms");
    Result<Packet> p = ReadPacket(cmd_, kMaxControlPayload, kPacketTimeoutMs);
    if (!p.ok()) return p.status();
    switch (p.value().type) {
      case kOperationRequest:
        return ParseRequest(p.value().payload);
      case kEndData:
        // An empty End Data closing a data phase that had already delivered every byte.
        if (p.value().payload.size() == 4) continue;
        return BadPacket("an End Data packet outside a data phase");
      case kProbeRequest: {
        Status st = WritePacket(cmd_, kProbeResponse, {}, kPacketTimeoutMs);
        if (!st.ok()) return st;
        continue;
      }
      case kCancel:
        continue;  // nothing is in progress between operations
      default:
        return BadPacket(std::string("a ") + TypeName(p.value().type) + " packet where an Operation Request was expected");
    }
  }
}

Status ResponderConnection::SendData(uint32_t tid, DataSource& source) { return SendPhase(cmd_, tid, source, kPacketTimeoutMs); }

Status ResponderConnection::ReceiveData(uint32_t tid, DataSink& sink, uint64_t max) {
  Result<Packet> p = ReadPacket(cmd_, 64, kPacketTimeoutMs);
  if (!p.ok()) return p.status();
  uint64_t total = 0;
  Status st = ParseStartData(p.value(), tid, &total);
  if (!st.ok()) return st;
  if (total > max) {
    return Status::Error("PTP_TOO_LARGE", "the initiator announced " + std::to_string(total) + " bytes; at most " + std::to_string(max) + " are taken here");
  }
  st = sink.Begin(total);
  if (!st.ok()) return st;
  return ReceivePhase(cmd_, tid, total, sink, kPacketTimeoutMs);
}

Status ResponderConnection::SendResponse(const Response& r) {
  return WritePacket(cmd_, kOperationResponse, CodeTidParams(r.code, r.transaction_id, r.params), kPacketTimeoutMs);
}

Status ResponderConnection::SendEvent(const Event& e) {
  std::lock_guard<std::mutex> lock(event_mu_);
  return WritePacket(event_, kEvent, CodeTidParams(e.code, e.transaction_id, e.params), kPacketTimeoutMs);
}

void ResponderConnection::Shutdown() {
  cmd_.Shutdown();
  event_.Shutdown();
}

// ---- initiator ----

Result<std::unique_ptr<InitiatorConnection>> InitiatorConnection::Connect(const std::string& host, uint16_t port, const InitCommand& me, int timeout_ms,
                                                                          InitCommand* responder) {
  Result<Socket> cmd = Socket::Connect(host, port, timeout_ms);
  if (!cmd.ok()) return cmd.status();
  Status st = WritePacket(cmd.value(), kInitCommandRequest, PackInitCommand(me), timeout_ms);
  if (!st.ok()) return st;
  Result<Packet> ack = ReadPacket(cmd.value(), kMaxControlPayload, timeout_ms);
  if (!ack.ok()) return ack.status();
  auto fail = [](const Packet& p) -> Status {
    uint32_t reason = kUnspecified;
    Reader(p.payload).U32(&reason);
    if (reason == kBusy) return Status::Error("PTP_BUSY", "the camera is busy with another initiator (Init Fail, busy)");
    if (reason == kRejected) return Status::Error("PTP_REJECTED", "the camera rejected this initiator (Init Fail, not paired?)");
    return Status::Error("PTP_INIT_FAILED", "the camera refused the connection (Init Fail, reason " + std::to_string(reason) + ")");
  };
  if (ack.value().type == kInitFail) return fail(ack.value());
  if (ack.value().type != kInitCommandAck) return BadPacket(std::string("a ") + TypeName(ack.value().type) + " packet instead of Init Command Ack");
  uint32_t connection = 0;
  Result<InitCommand> peer = UnpackInitAck(ack.value().payload, &connection);
  if (!peer.ok()) return peer.status();
  if (responder) *responder = peer.value();
  Result<Socket> ev = Socket::Connect(host, port, timeout_ms);
  if (!ev.ok()) return ev.status();
  Writer w;
  w.U32(connection);
  st = WritePacket(ev.value(), kInitEventRequest, w.bytes(), timeout_ms);
  if (!st.ok()) return st;
  Result<Packet> eack = ReadPacket(ev.value(), kMaxControlPayload, timeout_ms);
  if (!eack.ok()) return eack.status();
  if (eack.value().type == kInitFail) return fail(eack.value());
  if (eack.value().type != kInitEventAck) return BadPacket(std::string("a ") + TypeName(eack.value().type) + " packet instead of Init Event Ack");
  std::unique_ptr<InitiatorConnection> c(new InitiatorConnection(std::move(cmd).value(), std::move(ev).value()));
  c->timeout_ms_ = timeout_ms;
  return c;
}

Status InitiatorConnection::SendCommand(const Command& c) {
  Writer w;
  w.U32(c.data_out ? 2 : 1);
  w.U16(c.code);
  w.U32(c.transaction_id);
  for (uint32_t p : c.params) w.U32(p);
  return WritePacket(cmd_, kOperationRequest, w.bytes(), timeout_ms_);
}

Status InitiatorConnection::SendData(uint32_t tid, DataSource& source) { return SendPhase(cmd_, tid, source, timeout_ms_); }

Status InitiatorConnection::ReceiveData(uint32_t tid, DataSink& sink, bool* got_data, Response* early) {
  *got_data = false;
  Result<Packet> p = ReadPacket(cmd_, kMaxControlPayload, timeout_ms_);
  if (!p.ok()) return p.status();
  if (p.value().type == kOperationResponse) {
    return ParseCodeTidParams(p.value().payload, early, 5, "Operation Response");
  }
  uint64_t total = 0;
  Status st = ParseStartData(p.value(), tid, &total);
  if (!st.ok()) return st;
  if (total == UINT64_MAX) return BadPacket("Start Data with an unknown length (not supported)");
  *got_data = true;
  st = sink.Begin(total);
  if (!st.ok()) return st;
  return ReceivePhase(cmd_, tid, total, sink, timeout_ms_);
}

Result<Response> InitiatorConnection::ReadResponse() {
  for (;;) {
    Result<Packet> p = ReadPacket(cmd_, kMaxControlPayload, timeout_ms_);
    if (!p.ok()) return p.status();
    if (p.value().type == kEndData && p.value().payload.size() == 4) continue;
    if (p.value().type != kOperationResponse) return BadPacket(std::string("a ") + TypeName(p.value().type) + " packet where a response was expected");
    Response r;
    Status st = ParseCodeTidParams(p.value().payload, &r, 5, "Operation Response");
    if (!st.ok()) return st;
    return r;
  }
}

Result<bool> InitiatorConnection::ReadEvent(Event* e, int timeout_ms) {
  for (;;) {
    if (!event_.Readable(timeout_ms)) return false;
    Result<Packet> p = ReadPacket(event_, kMaxControlPayload, timeout_ms_);
    if (!p.ok()) return p.status();
    if (p.value().type == kProbeRequest) {
      Status st = WritePacket(event_, kProbeResponse, {}, timeout_ms_);
      if (!st.ok()) return st;
      continue;
    }
    if (p.value().type != kEvent) return BadPacket(std::string("a ") + TypeName(p.value().type) + " packet on the event connection");
    Status st = ParseCodeTidParams(p.value().payload, e, 3, "Event");
    if (!st.ok()) return st;
    return true;
  }
}

}  // namespace ptpip
}  // namespace ptp
}  // namespace camwire
