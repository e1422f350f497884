// libFuzzer target: any bytes as what an initiator sends on a PTP/IP command
// connection, served by the real Responder over a small directory storage:
// the packet reader, the data-phase reader and every operation handler see
// hostile input. The peer end is drained by a thread, so responses never
// block. Checks: the sanitizers', libFuzzer's malloc limit (a declared length
// must never become an allocation), and that serving always ends.
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ptp/ptpip.h"
#include "ptp/responder.h"
#include "ptp/storage.h"

using namespace camwire::ptp;

namespace {
std::string StorageDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/camwire-fuzz-ptp-XXXXXX";
    std::string d = ::mkdtemp(tmpl);
    std::string sub = d + "/DCIM";
    ::mkdir(sub.c_str(), 0755);
    FILE* f = std::fopen((sub + "/IMG_0001.JPG").c_str(), "wb");
    std::fputs("not really a jpeg, but 40 bytes of it..", f);
    std::fclose(f);
    return d;
  }();
  return dir;
}
// Removes whatever a run sent into the storage (SendObject), keeping the seed file.
void Prune(const std::string& dir, bool top) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    const std::string p = dir + "/" + n;
    if ((top && n == "DCIM") || (!top && dir.size() > 5 && dir.compare(dir.size() - 5, 5, "/DCIM") == 0 && n == "IMG_0001.JPG")) {
      if (top) Prune(p, false);
      continue;
    }
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      Prune(p, false);
      ::rmdir(p.c_str());
    } else {
      ::unlink(p.c_str());
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The handshake parser on its own.
  (void)ptpip::UnpackInitCommand(std::vector<uint8_t>(data, data + size));
  uint32_t conn = 0;
  (void)ptpip::UnpackInitAck(std::vector<uint8_t>(data, data + size), &conn);

  int cmd[2];
  int ev[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cmd) != 0) return 0;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ev) != 0) return 0;
  std::thread peer([&] {
    // Feed the input, then read (and drop) whatever the responder answers.
    size_t off = 0;
    uint8_t buf[65536];
    bool open = true;
    for (;;) {
      if (off < size) {
        const ssize_t w = ::send(cmd[1], data + off, size - off, MSG_NOSIGNAL);
        if (w > 0) off += static_cast<size_t>(w);
      } else if (open) {
        ::shutdown(cmd[1], SHUT_WR);
        open = false;
      }
      const ssize_t r = ::recv(cmd[1], buf, sizeof(buf), 0);
      if (r == 0) break;
      if (r < 0 && off >= size) ::usleep(100);
    }
  });
  DirectoryStorage storage(StorageDir());
  storage.Scan();
  Responder responder(storage, CameraIdentity(), ResponderHooks());
  {
    ptpip::ResponderConnection rc{Socket(cmd[0]), Socket(ev[0])};
    rc.set_idle_timeout_ms(2000);
    (void)responder.Serve(rc);
  }  // closes the responder's ends: the peer thread sees EOF
  peer.join();
  Prune(StorageDir(), true);
  ::close(cmd[1]);
  ::close(ev[1]);
  return 0;
}
