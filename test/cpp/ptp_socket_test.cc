// Socket::SpliceTo: socket bytes into a file through a pipe, the same bytes
// whether the file takes splice or not (an O_APPEND file refuses it: the
// pipe is read out and written instead), and a peer that closes early is
// PTP_CLOSED.
#include "ptp/socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace camwire {
namespace ptp {
namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

void Check(bool append, size_t total, size_t send_only, const char* want_error) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::vector<uint8_t> data(total);
  std::mt19937 rng(static_cast<unsigned>(total));
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  std::thread writer([&] {
    Socket w(sv[1]);
    (void)w.WriteAll(data.data(), send_only, 5000);
  });  // w closes its end when done
  char tmpl[] = "/tmp/camwire-splice-XXXXXX";
  const int made = ::mkstemp(tmpl);
  ASSERT_GE(made, 0);
  ::close(made);
  const int fd = ::open(tmpl, O_WRONLY | O_TRUNC | (append ? O_APPEND : 0));
  ASSERT_GE(fd, 0);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Socket r(sv[0]);
  bool unsupported = true;
  Status s = r.SpliceTo(fd, p[0], p[1], total, 5000, &unsupported);
  writer.join();
  ::close(fd);
  ::close(p[0]);
  ::close(p[1]);
  if (want_error) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), want_error);
  } else {
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_FALSE(unsupported);
    EXPECT_EQ(ReadAll(tmpl), data);
  }
  ::unlink(tmpl);
}

TEST(PtpSocket, SpliceToAFileMovesEveryByte) { Check(false, 3 << 20, 3 << 20, nullptr); }
TEST(PtpSocket, SpliceToAFileThatRefusesSpliceFallsBackToWrites) { Check(true, (1 << 20) + 12345, (1 << 20) + 12345, nullptr); }
TEST(PtpSocket, SpliceFromAPeerThatClosesEarlyIsPtpClosed) { Check(false, 1 << 20, 1000, "PTP_CLOSED"); }

}  // namespace
}  // namespace ptp
}  // namespace camwire
