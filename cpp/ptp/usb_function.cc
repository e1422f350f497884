#include "ptp/usb_function.h"

#include <algorithm>
#include <chrono>

#include "ptp/codes.h"
#include "ptp/wire.h"

namespace camwire {
namespace ptp {
namespace usb {

std::vector<uint8_t> PackHeader(const ContainerHeader& h) {
  Writer w;
  w.U32(h.length);
  w.U16(h.type);
  w.U16(h.code);
  w.U32(h.transaction_id);
  return w.bytes();
}

bool UnpackHeader(const uint8_t* p, size_t n, ContainerHeader* h) {
  Reader r(p, n);
  return r.U32(&h->length) && r.U16(&h->type) && r.U16(&h->code) && r.U32(&h->transaction_id);
}

std::vector<uint8_t> PackContainer(uint16_t type, uint16_t code, uint32_t transaction_id, const std::vector<uint32_t>& params) {
  Writer w;
  w.U32(static_cast<uint32_t>(kHeader + 4 * params.size()));
  w.U16(type);
  w.U16(code);
  w.U32(transaction_id);
  for (uint32_t p : params) w.U32(p);
  return w.bytes();
}

std::vector<uint32_t> UnpackParams(const uint8_t* p, size_t n, size_t max) {
  std::vector<uint32_t> out;
  if (n <= kHeader) return out;
  Reader r(p + kHeader, n - kHeader);
  uint32_t v = 0;
  while (out.size() < max && r.U32(&v)) out.push_back(v);
  return out;
}

namespace {
constexpr int kPhaseTimeoutMs = 20000;

// Operations whose data phase goes from the host to the camera (USB carries no data-phase flag).
bool DataOut(uint16_t code) {
  return code == op::kSendObjectInfo || code == op::kSendObject || code == op::kSetDevicePropValue || code == op::kSetUploadTarget;
}
}  // namespace

void Function::BulkOut(const uint8_t* data, size_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  out_.insert(out_.end(), data, data + size);
  cv_.notify_all();
}

Status Function::ReadOut(uint8_t* dst, size_t n, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t got = 0;
  while (got < n) {
    if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !out_.empty() || closed_ || cancelled_; })) {
      return Status::Error("PTP_TIMEOUT", "the host sent nothing for " + std::to_string(timeout_ms) + " ms");
    }
    if (closed_) return Status::Error("PTP_CLOSED", "the host went away");
    if (cancelled_) return Status::Error("PTP_CANCELLED", "the host cancelled the transaction");
    const size_t k = std::min(n - got, out_.size());
    std::copy(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(k), dst + got);
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(k));
    got += k;
  }
  return Status::Ok();
}

Result<Command> Function::ReadCommand() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = false;
      in_phase_ = false;
    }
    uint8_t h[kHeader];
    Status s = ReadOut(h, kHeader, 3600 * 1000);
    if (!s.ok()) return s;
    ContainerHeader ch;
    UnpackHeader(h, kHeader, &ch);
    if (ch.length < kHeader) return Status::Error("PTP_BAD_PACKET", "a USB container shorter than its header");
    if (ch.type == kData) {
      // A data phase the camera did not take (an operation it refused): skip it.
      uint64_t left = ch.length - kHeader;
      std::vector<uint8_t> sink(64 * 1024);
      while (left > 0) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(left, sink.size()));
        s = ReadOut(sink.data(), k, kPhaseTimeoutMs);
        if (!s.ok()) return s;
        left -= k;
      }
      continue;
    }
    if (ch.type != kCommand) return Status::Error("PTP_BAD_PACKET", "a container of type " + std::to_string(ch.type) + " where a command was expected");
    const uint32_t plen = ch.length - static_cast<uint32_t>(kHeader);
    if (plen % 4 != 0 || plen / 4 > 5) return Status::Error("PTP_BAD_PACKET", "a command container of " + std::to_string(ch.length) + " bytes");
    uint8_t whole[kHeader + 20];
    std::copy(h, h + kHeader, whole);
    s = ReadOut(whole + kHeader, plen, kPhaseTimeoutMs);
    if (!s.ok()) return s;
    Command c;
    c.code = ch.code;
    c.transaction_id = ch.transaction_id;
    c.params = UnpackParams(whole, kHeader + plen, 5);
    c.data_out = DataOut(c.code);
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_code_ = c.code;
    }
    return c;
  }
}

Status Function::ReceiveData(uint32_t tid, DataSink& sink, uint64_t max) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_phase_ = true;
  }
  uint8_t h[kHeader];
  Status s = ReadOut(h, kHeader, kPhaseTimeoutMs);
  if (!s.ok()) return s;
  ContainerHeader ch;
  UnpackHeader(h, kHeader, &ch);
  if (ch.type != kData) return Status::Error("PTP_BAD_PACKET", "a container of type " + std::to_string(ch.type) + " where data was expected");
  if (ch.transaction_id != tid) return Status::Error("PTP_BAD_PACKET", "data for transaction " + std::to_string(ch.transaction_id));
  if (ch.length < kHeader || ch.length == 0xFFFFFFFFu) return Status::Error("PTP_BAD_PACKET", "a data container of unknown or impossible length");
  const uint64_t total = ch.length - kHeader;
  if (total > max)
    return Status::Error("PTP_TOO_LARGE", "the host announced " + std::to_string(total) + " bytes; at most " + std::to_string(max) + " are taken here");
  s = sink.Begin(total);
  if (!s.ok()) return s;
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(total, 1u << 20)));
  uint64_t got = 0;
  while (got < total) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(total - got, buf.size()));
    s = ReadOut(buf.data(), k, kPhaseTimeoutMs);
    if (!s.ok()) return s;
    s = sink.Write(buf.data(), k);
    if (!s.ok()) return s;
    got += k;
  }
  return Status::Ok();
}

Status Function::Queue(const uint8_t* data, size_t size, bool end_of_transfer) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, std::chrono::milliseconds(kPhaseTimeoutMs), [&] { return in_.size() < std::max(queue_limit_, wanted_) || closed_ || cancelled_; })) {
    return Status::Error("PTP_TIMEOUT", "the host read nothing for " + std::to_string(kPhaseTimeoutMs) + " ms");
  }
  if (closed_) return Status::Error("PTP_CLOSED", "the host went away");
  if (cancelled_) return Status::Error("PTP_CANCELLED", "the host cancelled the transaction");
  in_.insert(in_.end(), data, data + size);
  in_queued_ += size;
  if (end_of_transfer) transfer_ends_.push_back(static_cast<size_t>(in_queued_));
  cv_.notify_all();
  return Status::Ok();
}

Status Function::SendData(uint32_t tid, DataSource& source) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_phase_ = true;
  }
  const uint64_t total = source.Size();
  ContainerHeader ch;
  ch.length = total + kHeader > 0xFFFFFFFEull ? 0xFFFFFFFFu : static_cast<uint32_t>(total + kHeader);
  ch.type = kData;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ch.code = current_code_;
  }
  ch.transaction_id = tid;
  std::vector<uint8_t> head = PackHeader(ch);
  Status s = Queue(head.data(), head.size(), total == 0);
  if (!s.ok()) return s;
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(total, 256 * 1024)));
  uint64_t sent = 0;
  while (sent < total) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(total - sent, buf.size()));
    Result<size_t> r = source.Read(buf.data(), want);
    if (!r.ok()) return r.status();
    if (r.value() == 0) return Status::Error("PTP_IO", "the object ended early");
    sent += r.value();
    s = Queue(buf.data(), r.value(), sent == total);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Function::SendResponse(const Response& r) {
  const std::vector<uint8_t> c = PackContainer(kResponse, r.code, r.transaction_id, r.params);
  return Queue(c.data(), c.size(), true);
}

Status Function::SendEvent(const Event& e) {
  std::lock_guard<std::mutex> lock(mu_);
  // A host that never reads events does not grow this.
  if (events_.size() < 64) events_.push_back(PackContainer(kEvent, e.code, e.transaction_id, e.params));
  return Status::Ok();
}

long Function::BulkIn(uint8_t* out, size_t capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  if (zlp_due_) {
    zlp_due_ = false;
    return 0;
  }
  if (in_.empty() || capacity == 0) return -1;
  const bool end_known = !transfer_ends_.empty();
  const uint64_t until_end = end_known ? transfer_ends_.front() - in_taken_ : in_.size();
  size_t n = static_cast<size_t>(std::min<uint64_t>(capacity, until_end));
  if (!end_known) {
    // A transfer still being produced: a URB completes only when full (a
    // short one would tell the host the transfer has ended).
    if (in_.size() < capacity) {
      wanted_ = capacity;  // lets the producer queue past its usual bound to fill this URB
      cv_.notify_all();
      return -1;
    }
    n = capacity;
  }
  wanted_ = 0;
  std::copy(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n), out);
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n));
  in_taken_ += n;
  if (end_known && in_taken_ == transfer_ends_.front()) {
    const uint64_t end = transfer_ends_.front();
    transfer_ends_.pop_front();
    const uint64_t length = end - last_end_;
    last_end_ = end;
    // A transfer of whole max-size packets that exactly filled this URB is ended by a zero-length packet.
    if (n == capacity && length % max_packet_ == 0) zlp_due_ = true;
  }
  cv_.notify_all();
  return static_cast<long>(n);
}

bool Function::InterruptIn(std::vector<uint8_t>* container) {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.empty()) return false;
  *container = std::move(events_.front());
  events_.pop_front();
  return true;
}

void Function::Disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void Function::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  out_.clear();
  in_.clear();
  transfer_ends_.clear();
  in_taken_ = in_queued_;
  last_end_ = in_queued_;
  zlp_due_ = false;
  wanted_ = 0;
  events_.clear();
  cv_.notify_all();
}

void Function::Cancel(uint32_t transaction_id) {
  (void)transaction_id;
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  in_.clear();
  transfer_ends_.clear();
  in_taken_ = in_queued_;
  last_end_ = in_queued_;
  zlp_due_ = false;
  cv_.notify_all();
}

uint16_t Function::DeviceStatus() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_phase_ && !in_.empty() ? rc::kDeviceBusy : rc::kOk;
}

}  // namespace usb
}  // namespace ptp
}  // namespace camwire
