// libFuzzer target: arbitrary bytes as a fragment file (and, when the first
// byte is odd, as the track file too) in a fresh journal directory, then
// Open and Load of every recovered fragment. Nothing recovered may exceed
// the input; libFuzzer's malloc limit catches a length that allocates.
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kvs/fragment_journal.h"

namespace {

void Clear(const std::string& dir);

const std::string& Dir() {
  static const std::string dir = [] {
    // tmpfs when there is one: the truncation's fdatasync costs nothing there.
    std::string tmpl = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/camwire-journal-fuzz-XXXXXX";
    if (!mkdtemp(&tmpl[0])) std::abort();
    return tmpl;
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      Clear(dir);
      rmdir(dir.c_str());
    });
    return true;
  }();
  (void)cleanup;
  return dir;
}

void Clear(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) std::abort();
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  for (const auto& n : names) unlink((dir + "/" + n).c_str());
}

void Write(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using camwire::kvs::FragmentJournal;
  const std::string& dir = Dir();
  Clear(dir);
  // The seed's timecode: its file header matches this name.
  Write(dir + "/00000000000000001000.kvsfrag", data, size);
  if (size > 0 && (data[0] & 1)) Write(dir + "/track", data, size);
  camwire::kvs::JournalRecovery rec;
  {
    auto r = FragmentJournal::Open(dir, &rec);
    if (!r.ok()) std::abort();  // a damaged file is a warning, never a failed open
    const auto& j = r.value();
    if (rec.fragments.size() > 1 || j->Fragments() != rec.fragments.size()) std::abort();
    if (rec.track.size() > size) std::abort();
    for (const auto& f : rec.fragments) {
      if (f.timecode != 1000 || FragmentJournal::kFileHeaderSize + f.frames * FragmentJournal::kRecordHeaderSize + f.bytes > size) std::abort();
      if (j->DiskBytes() > size) std::abort();
      auto l = j->Load(f.timecode);
      // What recovery kept is whole: loading it again must succeed.
      if (!l.ok() || l.value().size() != f.bytes) std::abort();
      // The recovered bytes are the input's, record by record.
      size_t off = FragmentJournal::kFileHeaderSize, at = 0;
      for (uint64_t k = 0; k < f.frames; ++k) {
        const uint32_t len = static_cast<uint32_t>(data[off + 4]) | static_cast<uint32_t>(data[off + 5]) << 8 | static_cast<uint32_t>(data[off + 6]) << 16 |
                             static_cast<uint32_t>(data[off + 7]) << 24;
        off += FragmentJournal::kRecordHeaderSize;
        for (uint32_t b = 0; b < len; ++b) {
          if (l.value()[at + b] != data[off + b]) std::abort();
        }
        off += len;
        at += len;
      }
      if (at != f.bytes) std::abort();
    }
  }
  Clear(dir);
  return 0;
}
