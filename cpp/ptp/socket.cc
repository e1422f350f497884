#include "ptp/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace camwire {
namespace ptp {

namespace {
Status Errno(const char* what) { return Status::Error("PTP_IO", std::string(what) + ": " + std::strerror(errno)); }
bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}
void Tune(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int buf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}
}  // namespace

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    file_splice_ = o.file_splice_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Socket::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Result<Socket> Socket::Connect(const std::string& host, uint16_t port, int timeout_ms) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return Status::Error("PTP_BAD_ADDRESS", "\"" + host + "\" is not an IPv4 address");
  }
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return Errno("socket");
  Tune(s.fd_);
  if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (errno != EINPROGRESS) {
      return Status::Error("PTP_UNREACHABLE", "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
    }
    if (!WaitFor(s.fd_, POLLOUT, timeout_ms)) {
      return Status::Error("PTP_TIMEOUT", "connect " + host + ":" + std::to_string(port) + ": no answer in " + std::to_string(timeout_ms) + " ms");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return Status::Error("PTP_UNREACHABLE", "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
    }
  }
  return s;
}

Status Socket::ReadExact(void* buf, size_t n, int timeout_ms) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return Status::Error("PTP_CLOSED", "the peer closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Errno("recv");
    if (!WaitFor(fd_, POLLIN, timeout_ms)) {
      return Status::Error("PTP_TIMEOUT", "no data from the peer for " + std::to_string(timeout_ms) + " ms");
    }
  }
  return Status::Ok();
}

Status Socket::WriteAll(const void* buf, size_t n, int timeout_ms) { return WriteAll2(buf, n, nullptr, 0, timeout_ms); }

Status Socket::WriteAll2(const void* a, size_t an, const void* b, size_t bn, int timeout_ms) {
  iovec iov[2] = {{const_cast<void*>(a), an}, {const_cast<void*>(b), bn}};
  int cnt = bn ? 2 : 1;
  iovec* v = iov;
  while (cnt > 0) {
    msghdr m{};
    m.msg_iov = v;
    m.msg_iovlen = static_cast<size_t>(cnt);
    const ssize_t r = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        if (errno == EPIPE || errno == ECONNRESET) return Status::Error("PTP_CLOSED", "the peer closed the connection");
        return Errno("send");
      }
      if (!WaitFor(fd_, POLLOUT, timeout_ms)) {
        return Status::Error("PTP_TIMEOUT", "the peer took no data for " + std::to_string(timeout_ms) + " ms");
      }
      continue;
    }
    size_t done = static_cast<size_t>(r);
    while (cnt > 0 && done >= v->iov_len) {
      done -= v->iov_len;
      ++v;
      --cnt;
    }
    if (cnt > 0) {
      v->iov_base = static_cast<uint8_t*>(v->iov_base) + done;
      v->iov_len -= done;
    }
  }
  return Status::Ok();
}

Status Socket::SendFile(int file_fd, uint64_t offset, size_t n, int timeout_ms) {
  off_t off = static_cast<off_t>(offset);
  while (n > 0) {
    const ssize_t r = ::sendfile(fd_, file_fd, &off, n);
    if (r > 0) {
      n -= static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return Status::Error("PTP_IO", "the file ended early");
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) return Status::Error("PTP_CLOSED", "the peer closed the connection");
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Errno("sendfile");
    if (!WaitFor(fd_, POLLOUT, timeout_ms)) return Status::Error("PTP_TIMEOUT", "the peer took no data for " + std::to_string(timeout_ms) + " ms");
  }
  return Status::Ok();
}

Status Socket::SpliceTo(int file_fd, int pipe_read, int pipe_write, size_t n, int timeout_ms, bool* unsupported) {
  *unsupported = false;
  bool moved = false;
  while (n > 0) {
    // Socket to pipe: as much as the pipe holds (the pipe is empty at each turn).
    const ssize_t in = ::splice(fd_, nullptr, pipe_write, nullptr, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (in == 0) return Status::Error("PTP_CLOSED", "the peer closed the connection");
    if (in < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!WaitFor(fd_, POLLIN, timeout_ms)) {
          return Status::Error("PTP_TIMEOUT", "no data from the peer for " + std::to_string(timeout_ms) + " ms");
        }
        continue;
      }
      if (!moved && (errno == EINVAL || errno == ENOSYS)) {
        *unsupported = true;
        return Status::Ok();
      }
      return Errno("splice");
    }
    // Pipe to file: all of it, before the next read. A file system that
    // takes no splice gets the pipe's bytes read out and written.
    size_t left = static_cast<size_t>(in);
    while (left > 0) {
      ssize_t out = file_splice_ ? ::splice(pipe_read, nullptr, file_fd, nullptr, left, SPLICE_F_MOVE) : -1;
      if (out < 0 && file_splice_ && errno == EINVAL) file_splice_ = false;
      if (!file_splice_) {
        uint8_t buf[64 << 10];
        out = ::read(pipe_read, buf, std::min(left, sizeof(buf)));
        if (out > 0) {
          for (ssize_t w = 0; w < out;) {
            const ssize_t k = ::write(file_fd, buf + w, static_cast<size_t>(out - w));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return Errno("write");
            w += k;
          }
        }
      }
      if (out < 0) {
        if (errno == EINTR) continue;
        return Errno("write (splice)");
      }
      if (out == 0) return Status::Error("PTP_IO", "write (splice): the file took no bytes");
      left -= static_cast<size_t>(out);
    }
    moved = true;
    n -= static_cast<size_t>(in);
  }
  return Status::Ok();
}

bool Socket::Readable(int timeout_ms) const { return WaitFor(fd_, POLLIN, timeout_ms); }

Result<Listener> Listener::Bind(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return Status::Error("PTP_BAD_ADDRESS", "\"" + host + "\" is not an IPv4 address");
  }
  Listener l;
  l.sock_ = Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l.sock_.valid()) return Errno("socket");
  int one = 1;
  ::setsockopt(l.sock_.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(l.sock_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return Status::Error("PTP_ADDRESS_IN_USE", "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  }
  if (::listen(l.sock_.fd(), 64) != 0) return Errno("listen");
  socklen_t len = sizeof(a);
  ::getsockname(l.sock_.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  l.port_ = ntohs(a.sin_port);
  return l;
}

Result<Socket> Listener::Accept(int timeout_ms) {
  if (!WaitFor(sock_.fd(), POLLIN, timeout_ms)) return Socket();
  const int fd = ::accept4(sock_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return Socket();
    return Errno("accept");
  }
  Tune(fd);
  return Socket(fd);
}

}  // namespace ptp
}  // namespace camwire
