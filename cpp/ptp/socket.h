// Blocking TCP sockets with deadlines (poll before every read and write), for
// the PTP/IP transport in both roles. Every wait has a timeout; a peer that
// stops answering is a PTP_TIMEOUT error, a closed connection PTP_CLOSED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace camwire {
namespace ptp {

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { Close(); }
  Socket(Socket&& o) noexcept : fd_(o.fd_), file_splice_(o.file_splice_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  static Result<Socket> Connect(const std::string& host, uint16_t port, int timeout_ms);

  Status ReadExact(void* buf, size_t n, int timeout_ms);
  Status WriteAll(const void* buf, size_t n, int timeout_ms);
  // Two buffers in one send (a packet header and its payload).
  Status WriteAll2(const void* a, size_t an, const void* b, size_t bn, int timeout_ms);
  // n bytes of a file from offset, kernel to socket (sendfile).
  Status SendFile(int file_fd, uint64_t offset, size_t n, int timeout_ms);
  // n bytes from this socket into a file at its current offset, through the
  // pipe (splice(2): no copy through user space). *unsupported (and nothing
  // moved) when the kernel or file system cannot: read and write instead.
  Status SpliceTo(int file_fd, int pipe_read, int pipe_write, size_t n, int timeout_ms, bool* unsupported);
  // True when bytes (or EOF) are ready within timeout_ms.
  bool Readable(int timeout_ms) const;
  // Wakes a thread blocked on this socket (shutdown, not close).
  void Shutdown();
  void Close();
  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool file_splice_ = true;  // false once a file system refused splice from the pipe
};

// A listening socket; Accept waits at most timeout_ms and returns an invalid
// Socket on timeout, so a server loop can check for shutdown.
class Listener {
 public:
  static Result<Listener> Bind(const std::string& host, uint16_t port);
  Listener() = default;
  Listener(Listener&&) noexcept = default;
  Listener& operator=(Listener&&) noexcept = default;
  Result<Socket> Accept(int timeout_ms);
  uint16_t port() const { return port_; }
  void Shutdown() { sock_.Shutdown(); }
  void Close() { sock_.Close(); }

 private:
  Socket sock_;
  uint16_t port_ = 0;
};

}  // namespace ptp
}  // namespace camwire
