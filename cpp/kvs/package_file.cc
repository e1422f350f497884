#include "kvs/package_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "common/files.h"

namespace camwire {
namespace mkv {
namespace {

// The errno's symbolic name for the common cases (as Node prints them), else the text.
std::string ErrnoText(int err) {
  switch (err) {
    case ENOENT:
      return "ENOENT";
    case EACCES:
      return "EACCES";
    case EISDIR:
      return "EISDIR";
    case ENOTDIR:
      return "ENOTDIR";
    case ENOSPC:
      return "ENOSPC";
    case EROFS:
      return "EROFS";
    case EFBIG:
      return "EFBIG";
    default:
      return std::strerror(err);
  }
}

// A file mapped read-only (an empty file maps to nothing and reads as empty).
class MappedFile {
 public:
  ~MappedFile() {
    if (data_ && data_ != MAP_FAILED) munmap(data_, size_);
    if (fd_ >= 0) close(fd_);
  }
  Status Open(const std::string& path) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return Status::Error("CLI_FILE_NOT_FOUND", "cannot read " + path + ": " + ErrnoText(errno));
    struct stat st;
    if (fstat(fd_, &st) != 0) return Status::Error("CLI_FILE_NOT_FOUND", "cannot read " + path + ": " + ErrnoText(errno));
    if (S_ISDIR(st.st_mode)) return Status::Error("CLI_FILE_NOT_FOUND", "cannot read " + path + ": EISDIR");
    if (!S_ISREG(st.st_mode)) return Status::Error("CLI_FILE_NOT_FOUND", "cannot read " + path + ": not a regular file (give a pipe as -)");
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return Status::Ok();
    data_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      return Status::Error("CLI_FILE_NOT_FOUND", "cannot read " + path + ": " + ErrnoText(errno));
    }
    // Read once, front to back: the kernel reads ahead and drops pages behind.
    madvise(data_, size_, MADV_SEQUENTIAL);
    madvise(data_, size_, MADV_WILLNEED);
    return Status::Ok();
  }
  const uint8_t* data() const { return static_cast<const uint8_t*>(data_); }
  size_t size() const { return size_; }

 private:
  int fd_ = -1;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// The output: a temporary file beside it, renamed over it when complete, removed otherwise.
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)), temp_(path_ + ".camwire-" + std::to_string(getpid()) + ".tmp") {}
  ~OutputFile() {
    if (fd_ >= 0) close(fd_);
    if (!done_) unlink(temp_.c_str());
  }
  Status Open() {
    fd_ = open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Fail(errno, "cannot create " + temp_);
    return Status::Ok();
  }
  // The spans in order, IOV_MAX at a time, short writes resumed.
  Status Write(const std::vector<PackageOptions::Span>& spans) {
    iov_.resize(spans.size());
    for (size_t i = 0; i < spans.size(); ++i) iov_[i] = {const_cast<uint8_t*>(spans[i].data), spans[i].size};
    size_t first = 0;
    while (first < iov_.size()) {
      const int count = static_cast<int>(std::min<size_t>(iov_.size() - first, IOV_MAX));
      const ssize_t w = writev(fd_, iov_.data() + first, count);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Fail(errno, "cannot write " + temp_);
      }
      size_t left = static_cast<size_t>(w);
      while (first < iov_.size() && left >= iov_[first].iov_len) left -= iov_[first++].iov_len;
      if (left > 0) {
        iov_[first].iov_base = static_cast<uint8_t*>(iov_[first].iov_base) + left;
        iov_[first].iov_len -= left;
      }
    }
    return Status::Ok();
  }
  Status Commit() {
    // As fs.writeFileSync would leave it: written, not synced (a packaging run is redone, not recovered).
    if (close(fd_) != 0) {
      const int err = errno;
      fd_ = -1;
      return Fail(err, "cannot write " + temp_);
    }
    fd_ = -1;
    // The old output is removed first (ReplaceFile: a rename over it makes ext4 flush the new one inside rename()).
    const int err = ReplaceFile(temp_, path_);
    if (err != 0) return Fail(err, "cannot rename " + temp_ + " to " + path_);
    done_ = true;
    return Status::Ok();
  }

 private:
  static Status Fail(int err, const std::string& what) { return Status::Error("KVS_FILE_IO", what + ": " + ErrnoText(err)); }
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool done_ = false;
  std::vector<struct iovec> iov_;
};

}  // namespace

Result<PackageResult> PackageFile(const std::string& input_path, const std::string& output_path, const std::string& audio_path, PackageOptions options) {
  MappedFile input;
  Status s = input.Open(input_path);
  if (!s.ok()) return s;
  MappedFile audio;
  if (options.audio != PackageOptions::Audio::kNone) {
    s = audio.Open(audio_path);
    if (!s.ok()) return s;
    options.audio_data = audio.data();
    options.audio_size = audio.size();
  }
  OutputFile out(output_path);
  s = out.Open();
  if (!s.ok()) return s;
  options.sink = [&out](const std::vector<PackageOptions::Span>& spans) { return out.Write(spans); };
  static const uint8_t kNothing = 0;
  Result<PackageResult> r = PackageAnnexB(input.size() ? input.data() : &kNothing, input.size(), options);
  if (!r.ok()) return r;
  s = out.Commit();
  if (!s.ok()) return s;
  return r;
}

}  // namespace mkv
}  // namespace camwire
