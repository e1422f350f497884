// The PTP session layer's view of a transport: commands, data phases,
// responses and events, with no notion of packets or USB endpoints. PTP/IP
// (ptpip.h) implements it now; the USB transport plugs in beside it.
// Data phases are streamed through DataSource/DataSink in chunks: nothing
// holds a whole object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace ptp {

struct Command {
  uint16_t code = 0;
  uint32_t transaction_id = 0;
  std::vector<uint32_t> params;
  bool data_out = false;  // the initiator will send a data phase
};

struct Response {
  uint16_t code = 0;
  uint32_t transaction_id = 0;
  std::vector<uint32_t> params;
};

struct Event {
  uint16_t code = 0;
  uint32_t transaction_id = 0;
  std::vector<uint32_t> params;
};

// Bytes to send in a data phase; Read fills up to max bytes and returns how many.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual uint64_t Size() const = 0;
  virtual Result<size_t> Read(uint8_t* buf, size_t max) = 0;
  // A source backed by a file can be sent with sendfile(2), without a copy
  // through user space: the descriptor and the offset of the next byte, or -1.
  virtual int FileDescriptor(uint64_t* offset) const {
    (void)offset;
    return -1;
  }
  // Marks n bytes as sent by other means (after a sendfile).
  virtual void Advance(size_t n) { (void)n; }
};

// Where received data-phase bytes go.
class DataSink {
 public:
  virtual ~DataSink() = default;
  // The announced total (before the first Write).
  virtual Status Begin(uint64_t total) {
    (void)total;
    return Status::Ok();
  }
  virtual Status Write(const uint8_t* data, size_t size) = 0;
  // A sink writing to a file can take bytes straight from a socket with
  // splice(2), through its own pipe, without a copy through user space: the
  // file's descriptor (written at its current offset) and the pipe, or -1.
  virtual int SpliceFds(int* pipe_read, int* pipe_write) {
    (void)pipe_read;
    (void)pipe_write;
    return -1;
  }
  // Marks n bytes as written by other means (after a splice).
  virtual void Advance(size_t n) { (void)n; }
};

class BufferSource : public DataSource {
 public:
  explicit BufferSource(std::vector<uint8_t> b) : b_(std::move(b)) {}
  uint64_t Size() const override { return b_.size(); }
  Result<size_t> Read(uint8_t* buf, size_t max) override;

 private:
  std::vector<uint8_t> b_;
  size_t off_ = 0;
};

// Writes all of data to a file descriptor (retrying short writes and EINTR).
Status WriteFully(int fd, const uint8_t* data, size_t size);

// Collects a data phase in memory, up to a limit (datasets, tickets; never objects).
class BufferSink : public DataSink {
 public:
  explicit BufferSink(size_t limit) : limit_(limit) {}
  Status Begin(uint64_t total) override;
  Status Write(const uint8_t* data, size_t size) override;
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  size_t limit_;
  std::vector<uint8_t> b_;
};

// The responder's side of one connection.
class ResponderTransport {
 public:
  virtual ~ResponderTransport() = default;
  // Waits for the next operation; PTP_CLOSED when the initiator has gone.
  virtual Result<Command> ReadCommand() = 0;
  virtual Status SendData(uint32_t transaction_id, DataSource& source) = 0;
  // Receives the initiator's data phase into sink (at most max bytes, else PTP_TOO_LARGE).
  virtual Status ReceiveData(uint32_t transaction_id, DataSink& sink, uint64_t max) = 0;
  virtual Status SendResponse(const Response& r) = 0;
  // May be called from another thread.
  virtual Status SendEvent(const Event& e) = 0;
};

// The initiator's side.
class InitiatorTransport {
 public:
  virtual ~InitiatorTransport() = default;
  virtual Status SendCommand(const Command& c) = 0;
  virtual Status SendData(uint32_t transaction_id, DataSource& source) = 0;
  // Receives a data phase into sink, or (when the responder skips it) nothing:
  // *got_data tells which; the response follows either way.
  virtual Status ReceiveData(uint32_t transaction_id, DataSink& sink, bool* got_data, Response* early) = 0;
  virtual Result<Response> ReadResponse() = 0;
  // Waits up to timeout_ms for an event; false when none came.
  virtual Result<bool> ReadEvent(Event* e, int timeout_ms) = 0;
};

}  // namespace ptp
}  // namespace camwire
