#include "ptp/storage.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ptp/codes.h"

namespace camwire {
namespace ptp {

DirectoryStorage::DirectoryStorage(std::string root, StorageOptions o) : root_(std::move(root)), o_(o) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

uint32_t DirectoryStorage::HandleFor(const std::string& rel) {
  auto it = handles_.find(rel);
  if (it != handles_.end()) return it->second;
  const uint32_t h = next_handle_++;
  handles_[rel] = h;
  return h;
}

Status DirectoryStorage::Walk(const std::string& rel, uint32_t parent, int depth, std::map<std::string, StoredObject>& seen) {
  if (depth > o_.max_depth) return Status::Ok();
  const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (rel.empty()) return Status::Error("PTP_STORAGE", "cannot read the storage directory " + root_ + ": " + std::strerror(errno));
    return Status::Ok();
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.empty() || n[0] == '.') continue;  // hidden, ".", "..", and camwire's partial files
    names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    if (seen.size() >= o_.max_objects) break;
    const std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st {};
    if (::lstat((root_ + "/" + r).c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;  // no symlinks out of the store
    StoredObject o;
    o.handle = HandleFor(r);
    o.parent = parent;
    o.name = n;
    o.rel_path = r;
    o.dir = S_ISDIR(st.st_mode);
    o.size = o.dir ? 0 : static_cast<uint64_t>(st.st_size);
    o.mtime = st.st_mtime;
    seen[r] = o;
    if (o.dir) {
      Status s = Walk(r, o.handle, depth + 1, seen);
      if (!s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status DirectoryStorage::Scan(std::vector<uint32_t>* added, std::vector<uint32_t>* removed) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, StoredObject> seen;
  Status s = Walk("", 0, 0, seen);
  if (!s.ok()) return s;
  std::map<uint32_t, StoredObject> now;
  for (auto& kv : seen) now[kv.second.handle] = kv.second;
  for (auto& kv : now) {
    if (added && objects_.find(kv.first) == objects_.end()) added->push_back(kv.first);
  }
  for (auto& kv : objects_) {
    if (removed && now.find(kv.first) == now.end()) removed->push_back(kv.first);
  }
  objects_.swap(now);
  return Status::Ok();
}

std::vector<uint32_t> DirectoryStorage::Handles(uint32_t parent) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint32_t> out;
  const uint32_t want = parent == kRootParent ? 0 : parent;
  for (const auto& kv : objects_) {
    if (parent == 0 || kv.second.parent == want) out.push_back(kv.first);
  }
  return out;
}

bool DirectoryStorage::Get(uint32_t handle, StoredObject* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(handle);
  if (it == objects_.end()) return false;
  *out = it->second;
  return true;
}

Result<StoredObject> DirectoryStorage::Reserve(uint32_t parent, const std::string& name, bool dir, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string base_rel;
  uint32_t p = 0;
  if (parent != 0 && parent != kRootParent) {
    auto it = objects_.find(parent);
    if (it == objects_.end() || !it->second.dir) return Status::Error("PTP_INVALID_PARENT", "no folder with handle " + std::to_string(parent));
    base_rel = it->second.rel_path;
    p = parent;
  }
  const std::string clean = SanitizeName(name);
  std::string stem = clean;
  std::string ext;
  const size_t dot = clean.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    stem = clean.substr(0, dot);
    ext = clean.substr(dot);
  }
  std::string chosen = clean;
  for (int i = 1; i < 10000; ++i) {
    const std::string rel = base_rel.empty() ? chosen : base_rel + "/" + chosen;
    struct stat st {};
    if (::lstat((root_ + "/" + rel).c_str(), &st) != 0 && errno == ENOENT) {
      StoredObject o;
      o.parent = p;
      o.name = chosen;
      o.rel_path = rel;
      o.dir = dir;
      o.size = size;
      return o;
    }
    chosen = stem + "-" + std::to_string(i) + ext;
  }
  return Status::Error("PTP_STORE_FULL", "no free name for " + clean);
}

uint32_t DirectoryStorage::Commit(const StoredObject& reserved) {
  std::lock_guard<std::mutex> lock(mu_);
  StoredObject o = reserved;
  o.handle = HandleFor(o.rel_path);
  struct stat st {};
  if (::lstat((root_ + "/" + o.rel_path).c_str(), &st) == 0) {
    o.size = o.dir ? 0 : static_cast<uint64_t>(st.st_size);
    o.mtime = st.st_mtime;
  }
  objects_[o.handle] = o;
  return o.handle;
}

Status DirectoryStorage::Delete(uint32_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(handle);
  if (it == objects_.end()) return Status::Error("PTP_INVALID_HANDLE", "no object with handle " + std::to_string(handle));
  const std::string path = root_ + "/" + it->second.rel_path;
  if ((it->second.dir ? ::rmdir(path.c_str()) : ::unlink(path.c_str())) != 0) {
    return Status::Error("PTP_IO", "cannot delete " + it->second.rel_path + ": " + std::strerror(errno));
  }
  objects_.erase(it);
  return Status::Ok();
}

uint64_t DirectoryStorage::Capacity() const {
  struct statvfs v {};
  if (::statvfs(root_.c_str(), &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
}

uint64_t DirectoryStorage::FreeSpace() const {
  struct statvfs v {};
  if (::statvfs(root_.c_str(), &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

std::string SanitizeName(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F || c == '/' || c == '\\' || c == ':') {
      out.push_back('_');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  // No hidden files and no "." / ".." segments.
  while (!out.empty() && out[0] == '.') out[0] = '_';
  if (out.size() > 200) {
    size_t cut = 200;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
    out.resize(cut);
  }
  if (out.empty()) out = "unnamed";
  return out;
}

namespace {
struct ExtensionFormat {
  const char* ext;
  uint16_t format;
};
// Lower-case extension -> object format. Anything else is Undefined.
const ExtensionFormat kFormats[] = {
    {"jpg", fmt::kExifJpeg},
    {"jpeg", fmt::kExifJpeg},
    {"jfif", fmt::kJfif},
    {"tif", fmt::kTiff},
    {"tiff", fmt::kTiff},
    {"png", fmt::kPng},
    {"bmp", fmt::kBmp},
    {"gif", fmt::kGif},
    {"jp2", fmt::kJp2},
    {"dng", fmt::kDng},
    {"heic", fmt::kUndefinedImage},
    {"heif", fmt::kUndefinedImage},
    {"hif", fmt::kUndefinedImage},
    {"webp", fmt::kUndefinedImage},
    {"cr2", fmt::kUndefinedImage},
    {"cr3", fmt::kUndefinedImage},
    {"crw", fmt::kUndefinedImage},
    {"nef", fmt::kUndefinedImage},
    {"nrw", fmt::kUndefinedImage},
    {"arw", fmt::kUndefinedImage},
    {"srf", fmt::kUndefinedImage},
    {"raf", fmt::kUndefinedImage},
    {"orf", fmt::kUndefinedImage},
    {"rw2", fmt::kUndefinedImage},
    {"pef", fmt::kUndefinedImage},
    {"raw", fmt::kUndefinedImage},
    {"mov", fmt::kQuickTime},
    {"mp4", fmt::kMp4},
    {"m4v", fmt::kMp4},
    {"m4a", fmt::kMp4},
    {"3gp", fmt::kMtp3gp},
    {"avi", fmt::kAvi},
    {"mpg", fmt::kMpeg},
    {"mpeg", fmt::kMpeg},
    {"asf", fmt::kAsf},
    {"wmv", fmt::kMtpWmv},
    {"mkv", fmt::kMtpUndefinedVideo},
    {"webm", fmt::kMtpUndefinedVideo},
    {"h264", fmt::kMtpUndefinedVideo},
    {"264", fmt::kMtpUndefinedVideo},
    {"h265", fmt::kMtpUndefinedVideo},
    {"265", fmt::kMtpUndefinedVideo},
    {"hevc", fmt::kMtpUndefinedVideo},
    {"ts", fmt::kMtpUndefinedVideo},
    {"mts", fmt::kMtpUndefinedVideo},
    {"m2ts", fmt::kMtpUndefinedVideo},
    {"wav", fmt::kWav},
    {"aif", fmt::kAiff},
    {"aiff", fmt::kAiff},
    {"mp3", fmt::kMp3},
    {"aac", fmt::kMtpAac},
    {"flac", fmt::kMtpFlac},
    {"ogg", fmt::kMtpOgg},
    {"wma", fmt::kMtpWma},
    {"g711", fmt::kMtpUndefinedAudio},
    {"txt", fmt::kText},
    {"json", fmt::kText},
    {"csv", fmt::kText},
    {"log", fmt::kText},
    {"xml", fmt::kText},
    {"htm", fmt::kHtml},
    {"html", fmt::kHtml},
};
}  // namespace

uint16_t FormatForName(const std::string& name, bool dir) {
  if (dir) return fmt::kAssociation;
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return fmt::kUndefined;
  std::string ext = name.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& f : kFormats) {
    if (ext == f.ext) return f.format;
  }
  return fmt::kUndefined;
}

std::vector<uint16_t> KnownFormats() {
  std::vector<uint16_t> out;
  for (const auto& f : kFormats) {
    if (std::find(out.begin(), out.end(), f.format) == out.end()) out.push_back(f.format);
  }
  out.push_back(fmt::kAssociation);
  out.push_back(fmt::kUndefined);
  return out;
}

}  // namespace ptp
}  // namespace camwire
