#include "kvs/fragment_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace camwire {
namespace kvs {

constexpr uint32_t FragmentJournal::kMaxRecordPayload;
constexpr uint32_t FragmentJournal::kMaxTrackBlob;
constexpr size_t FragmentJournal::kFileHeaderSize;
constexpr size_t FragmentJournal::kRecordHeaderSize;

namespace {

// ---- CRC-32C, slicing by 8 (eight 256-entry tables, built once) ------------

struct Crc32cTables {
  uint32_t t[8][256];
  Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

const Crc32cTables& Tables() {
  static const Crc32cTables tables;
  return tables;
}

// ---- little-endian fields ---------------------------------------------------

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr uint32_t kFileMagic = 0x4A465743u;    // "CWFJ"
constexpr uint32_t kRecordMagic = 0x52465743u;  // "CWFR"
constexpr uint32_t kTrackMagic = 0x4B545743u;   // "CWTK"
constexpr uint32_t kVersion = 1;
constexpr size_t kTrackHeaderSize = 16;
constexpr size_t kScanChunk = 64 << 10;
const char kSuffix[] = ".kvsfrag";
constexpr size_t kDigits = 20;

// ---- system calls -------------------------------------------------------------

Status IoError(const std::string& what, const std::string& path, int err) {
  return Status::Error("KVS_STORE_IO", what + " " + path + ": " + std::strerror(err));
}

Status Corrupt(const std::string& path, const std::string& why) { return Status::Error("KVS_STORE_CORRUPT", path + ": " + why); }

// Reads exactly n bytes at off; false with errno set (0 at end of file).
bool PreadFull(int fd, uint8_t* buf, size_t n, uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      errno = 0;
      return false;
    }
    buf += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

// Writes every byte of the iovecs at the fd's offset; false with errno set.
bool WritevFull(int fd, struct iovec* iov, int count) {
  while (count > 0) {
    const ssize_t w = ::writev(fd, iov, count);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(w);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

void CloseFd(int fd) {
  if (fd >= 0) ::close(fd);
}

// mkdir -p, each directory created with mode 0700.
Status MakeDirs(const std::string& dir) {
  std::string prefix;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t next = dir.find('/', pos);
    if (next == std::string::npos) next = dir.size();
    prefix = dir.substr(0, next);
    pos = next + 1;
    if (prefix.empty() || prefix == "." || prefix == "..") continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return IoError("mkdir", prefix, errno);
  }
  return Status::Ok();
}

std::string FileName(uint64_t timecode) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020" PRIu64 "%s", timecode, kSuffix);
  return name;
}

// "%020llu.kvsfrag" exactly (20 digits: every uint64 fits).
bool ParseFileName(const char* name, uint64_t* timecode) {
  const size_t len = std::strlen(name);
  if (len != kDigits + sizeof(kSuffix) - 1 || std::strcmp(name + kDigits, kSuffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    const uint64_t d = static_cast<uint64_t>(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *timecode = v;
  return true;
}

void FileHeader(uint8_t* h, uint64_t timecode) {
  Put32(h, kFileMagic);
  Put32(h + 4, kVersion);
  Put64(h + 8, timecode);
  Put32(h + 16, 0);
  Put32(h + 20, Crc32c(h, 20));
}

enum class HeaderCheck { kOk, kDamaged, kOtherVersion };

HeaderCheck CheckFileHeader(const uint8_t* h, uint64_t timecode, std::string* why) {
  if (Get32(h) != kFileMagic) {
    *why = "not a fragment file (bad magic)";
    return HeaderCheck::kDamaged;
  }
  if (Get32(h + 20) != Crc32c(h, 20)) {
    *why = "file header CRC mismatch";
    return HeaderCheck::kDamaged;
  }
  if (Get32(h + 4) != kVersion) {
    *why = "format version " + std::to_string(Get32(h + 4)) + " (this build reads version 1)";
    return HeaderCheck::kOtherVersion;
  }
  if (Get64(h + 8) != timecode) {
    *why = "header timecode " + std::to_string(Get64(h + 8)) + " differs from the file's name";
    return HeaderCheck::kDamaged;
  }
  return HeaderCheck::kOk;
}

struct Scan {
  uint64_t end = FragmentJournal::kFileHeaderSize;  // after the last valid record
  uint64_t frames = 0, bytes = 0, first_pts = 0, last_pts = 0;
  std::string stop;  // why the scan ended before the limit ("" when it reached it)
};

// Walks the records from the file header up to limit (never beyond: every
// length is checked against it before anything is read). With out, the
// payloads are appended to it (at most limit bytes in all); without, the
// CRC runs through a fixed buffer.
Status ScanRecords(int fd, const std::string& path, uint64_t limit, std::vector<uint8_t>* out, Scan* s) {
  std::vector<uint8_t> chunk;
  uint64_t off = FragmentJournal::kFileHeaderSize;
  while (off < limit) {
    const uint64_t left = limit - off;
    if (left < FragmentJournal::kRecordHeaderSize) {
      s->stop = "short record header (" + std::to_string(left) + " of 24 bytes)";
      break;
    }
    uint8_t h[FragmentJournal::kRecordHeaderSize];
    if (!PreadFull(fd, h, sizeof(h), off)) {
      if (errno == 0) {
        s->stop = "file ended inside a record header";
        break;
      }
      return IoError("read", path, errno);
    }
    const uint32_t len = Get32(h + 4);
    const uint64_t pts = Get64(h + 8);
    const uint32_t flags = Get32(h + 16);
    if (Get32(h) != kRecordMagic) {
      s->stop = "bad record magic";
      break;
    }
    if (flags != 0) {
      s->stop = "unknown record flags";
      break;
    }
    if (len > FragmentJournal::kMaxRecordPayload) {
      s->stop = "record length " + std::to_string(len) + " over the 64 MiB bound";
      break;
    }
    if (len > left - FragmentJournal::kRecordHeaderSize) {
      s->stop = "short payload (" + std::to_string(left - FragmentJournal::kRecordHeaderSize) + " of " + std::to_string(len) + " bytes)";
      break;
    }
    uint32_t crc = Crc32c(h, 20);
    const uint64_t poff = off + FragmentJournal::kRecordHeaderSize;
    const size_t at = out ? out->size() : 0;
    bool ended = false;
    if (out) {
      out->resize(at + len);
      if (len > 0 && !PreadFull(fd, out->data() + at, len, poff)) {
        if (errno != 0) return IoError("read", path, errno);
        ended = true;
      } else {
        crc = Crc32c(out->data() + at, len, crc);
      }
    } else {
      if (chunk.empty()) chunk.resize(kScanChunk);
      for (uint32_t done = 0; done < len && !ended;) {
        const size_t n = std::min<size_t>(chunk.size(), len - done);
        if (!PreadFull(fd, chunk.data(), n, poff + done)) {
          if (errno != 0) return IoError("read", path, errno);
          ended = true;
          break;
        }
        crc = Crc32c(chunk.data(), n, crc);
        done += static_cast<uint32_t>(n);
      }
    }
    if (ended || crc != Get32(h + 20)) {
      if (out) out->resize(at);
      s->stop = ended ? "file ended inside a payload" : "record CRC mismatch";
      break;
    }
    if (s->frames == 0) s->first_pts = pts;
    s->last_pts = pts;
    ++s->frames;
    s->bytes += len;
    off = poff + len;
    s->end = off;
  }
  return Status::Ok();
}

}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t size, uint32_t crc) {
  const Crc32cTables& tb = Tables();
  const auto& t = tb.t;
  crc = ~crc;
  while (size >= 8) {
    const uint32_t lo = crc ^ (static_cast<uint32_t>(data[0]) | static_cast<uint32_t>(data[1]) << 8 | static_cast<uint32_t>(data[2]) << 16 |
                               static_cast<uint32_t>(data[3]) << 24);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][data[4]] ^ t[2][data[5]] ^ t[1][data[6]] ^ t[0][data[7]];
    data += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *data++) & 0xFF];
  return ~crc;
}

FragmentJournal::FragmentJournal(std::string dir) : dir_(std::move(dir)) {}

FragmentJournal::~FragmentJournal() {
  (void)CloseOpen(/*sync=*/true);
  CloseFd(open_fd_);  // if the sync failed
  CloseFd(dir_fd_);
  CloseFd(lock_fd_);  // releases the flock
}

std::string FragmentJournal::PathOf(uint64_t timecode) const { return dir_ + "/" + FileName(timecode); }

Result<std::unique_ptr<FragmentJournal>> FragmentJournal::Open(const std::string& dir_in, JournalRecovery* recovery) {
  if (dir_in.empty()) return Status::Error("KVS_STORE_BAD_OPTIONS", "the journal directory is empty");
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  JournalRecovery local;
  JournalRecovery& rec = recovery ? *recovery : local;
  rec = JournalRecovery();

  Status s = MakeDirs(dir);
  if (!s.ok()) return s;
  std::unique_ptr<FragmentJournal> j(new FragmentJournal(dir));
  j->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dir_fd_ < 0) return IoError("open", dir, errno);
  const std::string lock_path = dir + "/lock";
  j->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (j->lock_fd_ < 0) return IoError("open", lock_path, errno);
  if (::flock(j->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Error("KVS_STORE_LOCKED", "the journal " + dir + " is in use by another producer (" + lock_path + " is locked)");
    }
    return IoError("flock", lock_path, errno);
  }

  // The directory's names, in lexical (= time) order.
  std::vector<std::string> names;
  {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return IoError("opendir", dir, errno);
    errno = 0;
    while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    const int err = errno;
    ::closedir(d);
    if (err != 0) return IoError("readdir", dir, err);
  }
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    if (name == "." || name == ".." || name == "lock" || name == "track") continue;
    const std::string path = dir + "/" + name;
    if (name == "track.tmp") {  // an interrupted SetTrack: the old track stands
      ::unlink(path.c_str());
      continue;
    }
    uint64_t tc = 0;
    if (!ParseFileName(name.c_str(), &tc)) {
      rec.warnings.push_back(path + ": not a journal file, ignored");
      continue;
    }
    // Whatever happens to it, a later Begin must not reuse this name.
    if (!j->have_last_ || tc > j->last_timecode_) j->last_timecode_ = tc;
    j->have_last_ = true;

    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      rec.warnings.push_back(path + ": cannot open (" + std::strerror(errno) + "), ignored");
      continue;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      rec.warnings.push_back(path + ": not a regular file, ignored");
      ::close(fd);
      continue;
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    uint8_t h[kFileHeaderSize];
    std::string why;
    HeaderCheck hc = HeaderCheck::kDamaged;
    if (size < kFileHeaderSize) {
      why = "no file header (" + std::to_string(size) + " bytes)";
    } else if (!PreadFull(fd, h, sizeof(h), 0)) {
      why = std::string("cannot read the file header (") + (errno ? std::strerror(errno) : "short") + ")";
    } else {
      hc = CheckFileHeader(h, tc, &why);
    }
    if (hc != HeaderCheck::kOk) {
      if (hc == HeaderCheck::kDamaged && size <= kFileHeaderSize) {
        // Nothing but a (partial) header: a crash right after Begin.
        ::close(fd);
        ::unlink(path.c_str());
        rec.warnings.push_back(path + ": " + why + ", no record: removed");
      } else {
        ::close(fd);
        rec.warnings.push_back(path + ": " + why + ", ignored and left in place");
      }
      continue;
    }
    Scan sc;
    Status ss = ScanRecords(fd, path, size, nullptr, &sc);
    if (!ss.ok()) {
      ::close(fd);
      rec.warnings.push_back(ss.message() + ", ignored");
      continue;
    }
    if (sc.frames == 0) {
      ::close(fd);
      ::unlink(path.c_str());
      rec.warnings.push_back(path + ": no valid record" + (sc.stop.empty() ? std::string() : " (" + sc.stop + ")") + ": removed");
      continue;
    }
    if (sc.end < size) {
      std::string w = path + ": " + sc.stop + " at offset " + std::to_string(sc.end) + "; " + std::to_string(size - sc.end) + " bytes dropped, " +
                      std::to_string(sc.frames) + " records kept";
      if (::ftruncate(fd, static_cast<off_t>(sc.end)) != 0 || ::fdatasync(fd) != 0) {
        w += std::string(" (truncating failed: ") + std::strerror(errno) + ")";
      }
      rec.warnings.push_back(w);
    }
    ::close(fd);
    Entry e;
    e.info.timecode = tc;
    e.info.first_pts = sc.first_pts;
    e.info.last_pts = sc.last_pts;
    e.info.frames = sc.frames;
    e.info.bytes = sc.bytes;
    e.file_bytes = sc.end;
    j->frags_[tc] = e;
    rec.fragments.push_back(e.info);
  }

  // The track blob.
  const std::string track_path = dir + "/track";
  const int tfd = ::open(track_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (tfd < 0) {
    if (errno != ENOENT) rec.warnings.push_back(track_path + ": cannot open (" + std::strerror(errno) + "), no track recovered");
  } else {
    struct stat st;
    uint8_t h[kTrackHeaderSize];
    std::string why;
    if (::fstat(tfd, &st) != 0 || static_cast<uint64_t>(st.st_size) < kTrackHeaderSize || !PreadFull(tfd, h, sizeof(h), 0)) {
      why = "short or unreadable";
    } else if (Get32(h) != kTrackMagic || Get32(h + 4) != kVersion) {
      why = "bad magic or version";
    } else if (Get32(h + 8) > kMaxTrackBlob || Get32(h + 8) != static_cast<uint64_t>(st.st_size) - kTrackHeaderSize) {
      why = "length " + std::to_string(Get32(h + 8)) + " does not match the file";
    } else {
      std::vector<uint8_t> blob(Get32(h + 8));
      if (!blob.empty() && !PreadFull(tfd, blob.data(), blob.size(), kTrackHeaderSize)) {
        why = "short or unreadable";
      } else if (Crc32c(blob.data(), blob.size(), Crc32c(h, 12)) != Get32(h + 12)) {
        why = "CRC mismatch";
      } else {
        rec.track = std::move(blob);
      }
    }
    if (!why.empty()) rec.warnings.push_back(track_path + ": " + why + ", no track recovered");
    ::close(tfd);
  }
  return j;
}

Status FragmentJournal::SetTrack(const std::vector<uint8_t>& blob) {
  if (blob.size() > kMaxTrackBlob) {
    return Status::Error("KVS_STORE_BAD_OPTIONS", "a track blob of " + std::to_string(blob.size()) + " bytes is over the 1 MiB bound");
  }
  const std::string tmp = dir_ + "/track.tmp";
  const std::string path = dir_ + "/track";
  uint8_t h[kTrackHeaderSize];
  Put32(h, kTrackMagic);
  Put32(h + 4, kVersion);
  Put32(h + 8, static_cast<uint32_t>(blob.size()));
  Put32(h + 12, Crc32c(blob.data(), blob.size(), Crc32c(h, 12)));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IoError("open", tmp, errno);
  struct iovec iov[2];
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof(h);
  iov[1].iov_base = const_cast<uint8_t*>(blob.data());
  iov[1].iov_len = blob.size();
  Status s;
  if (!WritevFull(fd, iov, blob.empty() ? 1 : 2)) {
    s = IoError("write", tmp, errno);
  } else if (::fsync(fd) != 0) {
    s = IoError("fsync", tmp, errno);
  }
  if (::close(fd) != 0 && s.ok()) s = IoError("close", tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = IoError("rename", tmp + " to", errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (::fsync(dir_fd_) != 0) return IoError("fsync", dir_, errno);
  return Status::Ok();
}

Status FragmentJournal::Sync() {
  if (open_fd_ < 0) return Status::Ok();
  if (::fdatasync(open_fd_) != 0) return IoError("fdatasync", PathOf(open_tc_), errno);
  if (!open_dir_synced_) {
    if (::fsync(dir_fd_) != 0) return IoError("fsync", dir_, errno);
    open_dir_synced_ = true;
  }
  return Status::Ok();
}

Status FragmentJournal::CloseOpen(bool sync) {
  if (open_fd_ < 0) return Status::Ok();
  if (sync) {
    Status s = Sync();
    if (!s.ok()) return s;
  }
  ::close(open_fd_);
  open_fd_ = -1;
  open_broken_ = false;
  return Status::Ok();
}

Status FragmentJournal::Begin(uint64_t timecode) {
  if (have_last_ && timecode <= last_timecode_) {
    return Status::Error("KVS_STORE_BAD_OPTIONS", "fragment timecode " + std::to_string(timecode) + " does not follow " + std::to_string(last_timecode_) +
                                                      " (timecodes increase strictly)");
  }
  Status s = CloseOpen(/*sync=*/true);
  if (!s.ok()) return s;
  const std::string path = PathOf(timecode);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IoError("create", path, errno);
  uint8_t h[kFileHeaderSize];
  FileHeader(h, timecode);
  struct iovec iov;
  iov.iov_base = h;
  iov.iov_len = sizeof(h);
  if (!WritevFull(fd, &iov, 1)) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return IoError("write", path, err);
  }
  Entry e;
  e.info.timecode = timecode;
  e.file_bytes = kFileHeaderSize;
  frags_[timecode] = e;
  open_fd_ = fd;
  open_tc_ = timecode;
  open_dir_synced_ = false;
  open_broken_ = false;
  last_timecode_ = timecode;
  have_last_ = true;
  return Status::Ok();
}

Status FragmentJournal::Append(const uint8_t* data, size_t size, uint64_t pts) {
  if (open_fd_ < 0) return Status::Error("KVS_STORE_BAD_OPTIONS", "Append with no open fragment (Begin first)");
  if (size > kMaxRecordPayload) {
    return Status::Error("KVS_STORE_BAD_OPTIONS", "a record of " + std::to_string(size) + " bytes is over the 64 MiB bound");
  }
  if (size > 0 && data == nullptr) return Status::Error("KVS_STORE_BAD_OPTIONS", "Append of a null buffer");
  const std::string path = PathOf(open_tc_);
  if (open_broken_) return Status::Error("KVS_STORE_IO", path + ": an earlier failed write could not be undone; Begin a new fragment");
  Entry& e = frags_[open_tc_];
  uint8_t h[kRecordHeaderSize];
  Put32(h, kRecordMagic);
  Put32(h + 4, static_cast<uint32_t>(size));
  Put64(h + 8, pts);
  Put32(h + 16, 0);
  Put32(h + 20, Crc32c(data, size, Crc32c(h, 20)));
  struct iovec iov[2];
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof(h);
  iov[1].iov_base = const_cast<uint8_t*>(data);
  iov[1].iov_len = size;
  if (!WritevFull(open_fd_, iov, size > 0 ? 2 : 1)) {
    const int err = errno;
    // Back to the last whole record, so the file stays a valid journal.
    const off_t start = static_cast<off_t>(e.file_bytes);
    if (::ftruncate(open_fd_, start) != 0 || ::lseek(open_fd_, start, SEEK_SET) != start) open_broken_ = true;
    return IoError("write", path, err);
  }
  if (e.info.frames == 0) e.info.first_pts = pts;
  e.info.last_pts = pts;
  ++e.info.frames;
  e.info.bytes += size;
  e.file_bytes += kRecordHeaderSize + size;
  return Status::Ok();
}

Result<std::vector<uint8_t>> FragmentJournal::Load(uint64_t timecode) const {
  auto it = frags_.find(timecode);
  if (it == frags_.end()) return Status::Error("KVS_STORE_BAD_OPTIONS", "the journal holds no fragment " + std::to_string(timecode));
  const Entry& e = it->second;
  const std::string path = PathOf(timecode);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return IoError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError("stat", path, err);
  }
  if (static_cast<uint64_t>(st.st_size) < e.file_bytes) {
    ::close(fd);
    return Corrupt(path, "the file is " + std::to_string(st.st_size) + " bytes, " + std::to_string(e.file_bytes) + " were written");
  }
  uint8_t h[kFileHeaderSize];
  std::string why;
  if (!PreadFull(fd, h, sizeof(h), 0)) {
    const int err = errno;
    ::close(fd);
    return err ? IoError("read", path, err) : Corrupt(path, "short file header");
  }
  if (CheckFileHeader(h, timecode, &why) != HeaderCheck::kOk) {
    ::close(fd);
    return Corrupt(path, why);
  }
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(e.info.bytes));
  Scan sc;
  Status s = ScanRecords(fd, path, e.file_bytes, &out, &sc);
  ::close(fd);
  if (!s.ok()) return s;
  if (!sc.stop.empty()) return Corrupt(path, sc.stop + " at offset " + std::to_string(sc.end));
  if (sc.frames != e.info.frames || sc.bytes != e.info.bytes) {
    return Corrupt(path, std::to_string(sc.frames) + " records of " + std::to_string(sc.bytes) + " bytes, " + std::to_string(e.info.frames) + " of " +
                             std::to_string(e.info.bytes) + " were written");
  }
  return out;
}

void FragmentJournal::Remove(uint64_t timecode) {
  auto it = frags_.find(timecode);
  if (it == frags_.end()) return;
  if (open_fd_ >= 0 && open_tc_ == timecode) (void)CloseOpen(/*sync=*/false);
  ::unlink(PathOf(timecode).c_str());
  frags_.erase(it);
}

uint64_t FragmentJournal::DiskBytes() const {
  uint64_t n = 0;
  for (const auto& kv : frags_) n += kv.second.file_bytes;
  return n;
}

size_t FragmentJournal::Fragments() const { return frags_.size(); }

std::vector<JournalFragment> FragmentJournal::List() const {
  std::vector<JournalFragment> out;
  out.reserve(frags_.size());
  for (const auto& kv : frags_) out.push_back(kv.second.info);
  return out;
}

}  // namespace kvs
}  // namespace camwire
