#include "kvs/fragment_journal.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

// The largest single allocation while armed: a corrupt length must not turn
// into a huge buffer. Replaces the global operator new of this test binary
// (malloc underneath, so ASan still sees everything).
namespace {
std::atomic<bool> g_track_allocs{false};
std::atomic<size_t> g_max_alloc{0};
}  // namespace

namespace {
void* TrackedAlloc(size_t n) {
  if (g_track_allocs.load(std::memory_order_relaxed)) {
    size_t m = g_max_alloc.load(std::memory_order_relaxed);
    while (n > m && !g_max_alloc.compare_exchange_weak(m, n)) {
    }
  }
  return std::malloc(n ? n : 1);
}
}  // namespace

// Every form, so that no allocation is made by one allocator and freed by another.
void* operator new(size_t n) {
  if (void* p = TrackedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = TrackedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return TrackedAlloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return TrackedAlloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace camwire {
namespace kvs {
namespace {

constexpr uint64_t kT0 = 1700000000000ull;
constexpr size_t kH = FragmentJournal::kFileHeaderSize;
constexpr size_t kR = FragmentJournal::kRecordHeaderSize;

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/camwire-journal-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    ::nftw(
        path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16, FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string FragPath(const std::string& dir, uint64_t tc) {
  char name[64];
  std::snprintf(name, sizeof(name), "/%020llu.kvsfrag", static_cast<unsigned long long>(tc));
  return dir + name;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

void WriteAll(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (size > 0) ASSERT_EQ(std::fwrite(data, 1, size, f), size);
  std::fclose(f);
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& data) { WriteAll(path, data.data(), data.size()); }

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::vector<uint8_t> Payload(size_t size, uint32_t seed) {
  std::vector<uint8_t> v(size);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

std::unique_ptr<FragmentJournal> MustOpen(const std::string& dir, JournalRecovery* rec = nullptr) {
  auto r = FragmentJournal::Open(dir, rec);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& w : v) s += w + "\n";
  return s;
}

// A fragment of records with these payload sizes; returns the concatenated payloads.
std::vector<uint8_t> WriteFragment(FragmentJournal& j, uint64_t tc, const std::vector<size_t>& sizes) {
  std::vector<uint8_t> all;
  EXPECT_TRUE(j.Begin(tc).ok());
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto p = Payload(sizes[i], static_cast<uint32_t>(tc + i));
    Status s = j.Append(p.data(), p.size(), tc + i * 33);
    EXPECT_TRUE(s.ok()) << s.ToString();
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

TEST(Crc32c, MatchesTheKnownVectors) {
  const char* digits = "123456789";
  EXPECT_EQ(Crc32c(reinterpret_cast<const uint8_t*>(digits), 9), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32);
  for (size_t i = 0; i < 32; ++i) inc[i] = static_cast<uint8_t>(i);
  // RFC 3720 (iSCSI), B.4.
  EXPECT_EQ(Crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, SlicedEqualsBitwiseAtEveryLengthAndSplit) {
  auto data = Payload(300, 7);
  for (size_t len = 0; len <= data.size(); ++len) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; ++i) {
      c ^= data[i];
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    const uint32_t ref = ~c;
    ASSERT_EQ(Crc32c(data.data(), len), ref) << len;
    const size_t cut = len / 3;
    ASSERT_EQ(Crc32c(data.data() + cut, len - cut, Crc32c(data.data(), cut)), ref) << len;
  }
}

TEST(FragmentJournal, WritesFragmentsAndRecoversThemInOrder) {
  TempDir t;
  const std::string dir = t.path() + "/a/b/journal";  // parents are created too
  std::vector<std::vector<uint8_t>> want;
  const std::vector<std::vector<size_t>> sizes = {{5000, 100, 2000}, {1}, {30000, 0, 30000, 7}};
  {
    auto j = MustOpen(dir);
    ASSERT_TRUE(j);
    for (size_t f = 0; f < sizes.size(); ++f) want.push_back(WriteFragment(*j, kT0 + f * 2000, sizes[f]));
    EXPECT_EQ(j->Fragments(), 3u);
    ASSERT_TRUE(j->Sync().ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(FragPath(dir, kT0).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  JournalRecovery rec;
  auto j = MustOpen(dir, &rec);
  ASSERT_TRUE(j);
  EXPECT_TRUE(rec.warnings.empty()) << Joined(rec.warnings);
  EXPECT_TRUE(rec.track.empty());
  ASSERT_EQ(rec.fragments.size(), 3u);
  uint64_t disk = 0;
  for (size_t f = 0; f < sizes.size(); ++f) {
    const JournalFragment& jf = rec.fragments[f];
    EXPECT_EQ(jf.timecode, kT0 + f * 2000);
    EXPECT_EQ(jf.frames, sizes[f].size());
    EXPECT_EQ(jf.bytes, want[f].size());
    EXPECT_EQ(jf.first_pts, jf.timecode);
    EXPECT_EQ(jf.last_pts, jf.timecode + (sizes[f].size() - 1) * 33);
    auto l = j->Load(jf.timecode);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ(l.value(), want[f]);
    const uint64_t file = FileSize(FragPath(dir, jf.timecode));
    EXPECT_EQ(file, kH + kR * sizes[f].size() + want[f].size());
    disk += file;
  }
  EXPECT_EQ(j->DiskBytes(), disk);
  EXPECT_EQ(j->Fragments(), 3u);
  EXPECT_EQ(j->List().size(), 3u);
  // Timecodes go on from the recovered ones.
  EXPECT_EQ(j->Begin(kT0 + 4000).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_TRUE(j->Begin(kT0 + 4001).ok());
}

TEST(FragmentJournal, LoadsTheOpenFragmentAsWrittenSoFar) {
  TempDir t;
  auto j = MustOpen(t.path());
  ASSERT_TRUE(j);
  auto want = WriteFragment(*j, kT0, {10, 20});
  auto l = j->Load(kT0);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l.value(), want);
  auto more = Payload(30, 99);
  ASSERT_TRUE(j->Append(more.data(), more.size(), kT0 + 66).ok());
  want.insert(want.end(), more.begin(), more.end());
  EXPECT_EQ(j->Load(kT0).value(), want);
  ASSERT_TRUE(j->Begin(kT0 + 100).ok());
  auto empty = j->Load(kT0 + 100);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().empty());
  EXPECT_EQ(j->Load(12345).status().code(), "KVS_STORE_BAD_OPTIONS");
}

TEST(FragmentJournal, RemoveDeletesFilesAndDiskBytesFollows) {
  TempDir t;
  auto j = MustOpen(t.path());
  ASSERT_TRUE(j);
  WriteFragment(*j, kT0, {100, 100});
  WriteFragment(*j, kT0 + 1, {200});
  WriteFragment(*j, kT0 + 2, {300, 1});
  EXPECT_EQ(j->DiskBytes(), (kH + 2 * kR + 200) + (kH + kR + 200) + (kH + 2 * kR + 301));
  j->Remove(kT0 + 1);
  EXPECT_FALSE(Exists(FragPath(t.path(), kT0 + 1)));
  EXPECT_EQ(j->Fragments(), 2u);
  EXPECT_EQ(j->DiskBytes(), (kH + 2 * kR + 200) + (kH + 2 * kR + 301));
  j->Remove(999);  // unknown: nothing
  EXPECT_EQ(j->Fragments(), 2u);
  // The open one: gone, and nothing is open.
  j->Remove(kT0 + 2);
  EXPECT_FALSE(Exists(FragPath(t.path(), kT0 + 2)));
  uint8_t b = 1;
  EXPECT_EQ(j->Append(&b, 1, 0).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_TRUE(j->Sync().ok());
  EXPECT_EQ(j->Begin(kT0 + 2).code(), "KVS_STORE_BAD_OPTIONS") << "a removed timecode is still in the past";
  j.reset();
  JournalRecovery rec;
  j = MustOpen(t.path(), &rec);
  ASSERT_EQ(rec.fragments.size(), 1u);
  EXPECT_EQ(rec.fragments[0].timecode, kT0);
  EXPECT_EQ(j->DiskBytes(), kH + 2 * kR + 200);
}

TEST(FragmentJournal, RejectsBadArguments) {
  EXPECT_EQ(FragmentJournal::Open("", nullptr).status().code(), "KVS_STORE_BAD_OPTIONS");
  TempDir t;
  auto j = MustOpen(t.path());
  ASSERT_TRUE(j);
  uint8_t b[4] = {1, 2, 3, 4};
  EXPECT_EQ(j->Append(b, 4, 0).code(), "KVS_STORE_BAD_OPTIONS") << "nothing open";
  ASSERT_TRUE(j->Begin(kT0).ok());
  EXPECT_EQ(j->Begin(kT0).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_EQ(j->Begin(kT0 - 1).code(), "KVS_STORE_BAD_OPTIONS");
  // The bound is checked before the buffer is touched.
  EXPECT_EQ(j->Append(b, size_t{FragmentJournal::kMaxRecordPayload} + 1, 0).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_EQ(j->Append(nullptr, 4, 0).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_TRUE(j->Append(b, 4, 0).ok()) << "the open fragment is still usable";
  EXPECT_EQ(j->SetTrack(std::vector<uint8_t>(FragmentJournal::kMaxTrackBlob + 1)).code(), "KVS_STORE_BAD_OPTIONS");
  // A directory that cannot be made.
  WriteAll(t.path() + "/file", {1});
  auto r = FragmentJournal::Open(t.path() + "/file/sub", nullptr);
  EXPECT_EQ(r.status().code(), "KVS_STORE_IO");
  EXPECT_NE(r.status().message().find(t.path() + "/file/sub"), std::string::npos) << r.status().message();
}

TEST(FragmentJournal, SetTrackRoundTripsAtomically) {
  TempDir t;
  const auto blob1 = Payload(700, 1), blob2 = Payload(33, 2);
  {
    auto j = MustOpen(t.path());
    ASSERT_TRUE(j->SetTrack(blob1).ok());
  }
  {
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_EQ(rec.track, blob1);
    ASSERT_TRUE(j->SetTrack(blob2).ok());
    EXPECT_FALSE(Exists(t.path() + "/track.tmp"));
    struct stat st;
    ASSERT_EQ(::stat((t.path() + "/track").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  {
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_EQ(rec.track, blob2);
    EXPECT_TRUE(rec.warnings.empty()) << Joined(rec.warnings);
    ASSERT_TRUE(j->SetTrack({}).ok());
  }
  {
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_TRUE(rec.track.empty());
    ASSERT_TRUE(j->SetTrack(blob1).ok());
  }
  // A leftover temp file (a crash inside SetTrack) changes nothing; a damaged track is a warning.
  WriteAll(t.path() + "/track.tmp", {9, 9, 9});
  auto track = ReadAll(t.path() + "/track");
  {
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_EQ(rec.track, blob1);
    EXPECT_TRUE(rec.warnings.empty()) << Joined(rec.warnings);
    EXPECT_FALSE(Exists(t.path() + "/track.tmp"));
  }
  track[100] ^= 4;
  WriteAll(t.path() + "/track", track);
  {
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_TRUE(rec.track.empty());
    ASSERT_EQ(rec.warnings.size(), 1u);
    EXPECT_NE(rec.warnings[0].find("track"), std::string::npos);
  }
}

TEST(FragmentJournal, ASecondOpenOfTheSameDirectoryIsLocked) {
  TempDir t;
  auto first = MustOpen(t.path());
  ASSERT_TRUE(first);
  auto second = FragmentJournal::Open(t.path(), nullptr);
  EXPECT_EQ(second.status().code(), "KVS_STORE_LOCKED") << second.status().ToString();
  auto third = FragmentJournal::Open(t.path() + "//", nullptr);
  EXPECT_EQ(third.status().code(), "KVS_STORE_LOCKED");
  // Another process too.
  const std::string dir = t.path();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = FragmentJournal::Open(dir, nullptr);
    ::_exit(r.ok() ? 1 : r.status().code() == "KVS_STORE_LOCKED" ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  first.reset();
  auto again = FragmentJournal::Open(t.path(), nullptr);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

// The file of a fragment whose last record is `last` bytes, after others.
struct Pristine {
  std::vector<uint8_t> file;
  std::vector<uint8_t> kept;  // payloads before the last record
  size_t last_start = 0;      // file offset of the last record
};

Pristine MakePristine(const std::vector<size_t>& sizes) {
  TempDir t;
  Pristine p;
  auto j = MustOpen(t.path());
  auto all = WriteFragment(*j, kT0 + 10, sizes);
  j.reset();
  p.file = ReadAll(FragPath(t.path(), kT0 + 10));
  p.kept.assign(all.begin(), all.end() - static_cast<std::ptrdiff_t>(sizes.back()));
  p.last_start = p.file.size() - kR - sizes.back();
  return p;
}

TEST(FragmentJournal, ATornLastRecordIsDroppedAtEveryByteOffset) {
  const Pristine p = MakePristine({300, 1000, 57});
  for (size_t cut = p.last_start; cut < p.file.size(); ++cut) {
    TempDir t;
    {
      auto j = MustOpen(t.path());
      WriteFragment(*j, kT0, {64, 64});  // an older, whole fragment
    }
    WriteAll(FragPath(t.path(), kT0 + 10), p.file.data(), cut);
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    ASSERT_TRUE(j);
    ASSERT_EQ(rec.fragments.size(), 2u) << cut;
    EXPECT_EQ(rec.fragments[0].frames, 2u);
    const JournalFragment& f = rec.fragments[1];
    EXPECT_EQ(f.frames, 2u) << cut;
    EXPECT_EQ(f.bytes, p.kept.size()) << cut;
    EXPECT_EQ(f.last_pts, kT0 + 10 + 33) << cut;
    EXPECT_EQ(rec.warnings.size(), cut == p.last_start ? 0u : 1u) << cut << "\n" << Joined(rec.warnings);
    if (cut != p.last_start) {
      EXPECT_NE(rec.warnings[0].find(FragPath(t.path(), kT0 + 10)), std::string::npos) << rec.warnings[0];
      EXPECT_NE(rec.warnings[0].find(std::to_string(cut - p.last_start) + " bytes dropped"), std::string::npos) << rec.warnings[0];
    }
    EXPECT_EQ(FileSize(FragPath(t.path(), kT0 + 10)), p.last_start) << "truncated at the last whole record";
    auto l = j->Load(kT0 + 10);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ(l.value(), p.kept) << cut;
    // Appending after recovery goes to a new file; the journal stays usable.
    ASSERT_TRUE(j->Begin(kT0 + 20).ok());
  }
}

TEST(FragmentJournal, AFileWithOnlyATornRecordIsRemoved) {
  const Pristine p = MakePristine({40});
  for (size_t cut = 0; cut < p.file.size(); ++cut) {
    TempDir t;
    WriteAll(FragPath(t.path(), kT0 + 10), p.file.data(), cut);
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_TRUE(rec.fragments.empty()) << cut;
    EXPECT_EQ(rec.warnings.size(), 1u) << cut;
    EXPECT_FALSE(Exists(FragPath(t.path(), kT0 + 10))) << cut;
    EXPECT_EQ(j->DiskBytes(), 0u);
    EXPECT_EQ(j->Begin(kT0 + 10).code(), "KVS_STORE_BAD_OPTIONS") << "its timecode is not reused";
  }
}

TEST(FragmentJournal, ABitFlipDropsThatRecordAndTheRestOfTheFile) {
  const Pristine p = MakePristine({100, 50, 80});
  const size_t second = kH + kR + 100;
  const std::vector<uint8_t> first_payload(p.kept.begin(), p.kept.begin() + 100);
  // Every bit of the second record's header and payload.
  for (size_t at = second; at < second + kR + 50; ++at) {
    for (int bit = 0; bit < 8; bit += (at < second + kR ? 1 : 3)) {
      TempDir t;
      auto file = p.file;
      file[at] ^= static_cast<uint8_t>(1u << bit);
      WriteAll(FragPath(t.path(), kT0 + 10), file);
      JournalRecovery rec;
      auto j = MustOpen(t.path(), &rec);
      ASSERT_EQ(rec.fragments.size(), 1u);
      EXPECT_EQ(rec.fragments[0].frames, 1u) << at << "." << bit;
      EXPECT_EQ(rec.fragments[0].bytes, 100u);
      EXPECT_EQ(rec.warnings.size(), 1u);
      EXPECT_EQ(FileSize(FragPath(t.path(), kT0 + 10)), second);
      EXPECT_EQ(j->Load(kT0 + 10).value(), first_payload);
    }
  }
  // The first record's: nothing valid is left, the file goes.
  {
    TempDir t;
    auto file = p.file;
    file[kH + kR + 3] ^= 0x10;
    WriteAll(FragPath(t.path(), kT0 + 10), file);
    JournalRecovery rec;
    MustOpen(t.path(), &rec);
    EXPECT_TRUE(rec.fragments.empty());
    EXPECT_FALSE(Exists(FragPath(t.path(), kT0 + 10)));
  }
  // The file header's: not recognisably ours any more, ignored and left in place.
  {
    TempDir t;
    auto file = p.file;
    file[9] ^= 0x01;
    WriteAll(FragPath(t.path(), kT0 + 10), file);
    JournalRecovery rec;
    auto j = MustOpen(t.path(), &rec);
    EXPECT_TRUE(rec.fragments.empty());
    EXPECT_EQ(rec.warnings.size(), 1u);
    EXPECT_EQ(FileSize(FragPath(t.path(), kT0 + 10)), file.size());
    EXPECT_EQ(j->Begin(kT0 + 10).code(), "KVS_STORE_BAD_OPTIONS");
  }
}

TEST(FragmentJournal, GarbageFilesAreIgnoredWithAWarning) {
  TempDir t;
  {
    auto j = MustOpen(t.path());
    WriteFragment(*j, kT0, {10});
  }
  const auto junk = Payload(1000, 5);
  WriteAll(t.path() + "/notes.txt", junk);
  WriteAll(FragPath(t.path(), kT0 + 1), junk);                  // named like ours, not ours
  WriteAll(FragPath(t.path(), kT0 + 2), junk.data(), 10);       // a crash inside Begin's header
  WriteAll(t.path() + "/0000000000000000001.kvsfrag", junk);    // 19 digits
  WriteAll(t.path() + "/000000000000000000001.kvsfrag", junk);  // 21 digits
  ASSERT_EQ(::mkdir((t.path() + "/00000000000000000005.kvsfrag").c_str(), 0700), 0);
  JournalRecovery rec;
  auto j = MustOpen(t.path(), &rec);
  ASSERT_EQ(rec.fragments.size(), 1u);
  EXPECT_EQ(rec.fragments[0].timecode, kT0);
  EXPECT_EQ(rec.warnings.size(), 6u) << Joined(rec.warnings);
  EXPECT_TRUE(Exists(t.path() + "/notes.txt"));
  EXPECT_TRUE(Exists(FragPath(t.path(), kT0 + 1)));
  EXPECT_FALSE(Exists(FragPath(t.path(), kT0 + 2)));
  EXPECT_EQ(j->DiskBytes(), kH + kR + 10);
  EXPECT_EQ(j->Begin(kT0 + 2).code(), "KVS_STORE_BAD_OPTIONS");
  EXPECT_TRUE(j->Begin(kT0 + 3).ok());
}

TEST(FragmentJournal, AHugeLengthFieldDoesNotAllocate) {
  const Pristine p = MakePristine({100, 50});
  const size_t second = kH + kR + 100;
  for (uint32_t len : {0xFFFFFFFFu, FragmentJournal::kMaxRecordPayload, FragmentJournal::kMaxRecordPayload + 1, 51u}) {
    TempDir t;
    auto file = p.file;
    for (int i = 0; i < 4; ++i) file[second + 4 + i] = static_cast<uint8_t>(len >> (8 * i));
    WriteAll(FragPath(t.path(), kT0 + 10), file);
    JournalRecovery rec;
    g_max_alloc = 0;
    g_track_allocs = true;
    auto j = MustOpen(t.path(), &rec);
    auto l = j->Load(kT0 + 10);
    g_track_allocs = false;
    EXPECT_LT(g_max_alloc.load(), size_t{1} << 20) << len;
    ASSERT_EQ(rec.fragments.size(), 1u);
    EXPECT_EQ(rec.fragments[0].frames, 1u);
    ASSERT_EQ(rec.warnings.size(), 1u);
    EXPECT_EQ(l.value().size(), 100u);
  }
  // The same written after open: Load says corrupt, still without allocating.
  TempDir t;
  auto j = MustOpen(t.path());
  WriteFragment(*j, kT0, {100, 50});
  const int fd = ::open(FragPath(t.path(), kT0).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const uint8_t ff[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  ASSERT_EQ(::pwrite(fd, ff, 4, static_cast<off_t>(second + 4)), 4);
  ::close(fd);
  g_max_alloc = 0;
  g_track_allocs = true;
  auto l = j->Load(kT0);
  g_track_allocs = false;
  EXPECT_EQ(l.status().code(), "KVS_STORE_CORRUPT");
  EXPECT_LT(g_max_alloc.load(), size_t{1} << 20);
}

TEST(FragmentJournal, LoadDetectsCorruptionWrittenAfterOpen) {
  TempDir t;
  auto j = MustOpen(t.path());
  auto want = WriteFragment(*j, kT0, {100, 200, 300});
  WriteFragment(*j, kT0 + 1, {10});
  const std::string path = FragPath(t.path(), kT0);
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const off_t at = static_cast<off_t>(kH + kR + 100 + kR + 150);  // inside the second payload
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, at), 1);
  b ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &b, 1, at), 1);
  auto l = j->Load(kT0);
  EXPECT_EQ(l.status().code(), "KVS_STORE_CORRUPT");
  EXPECT_NE(l.status().message().find(path), std::string::npos) << l.status().message();
  b ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &b, 1, at), 1);
  EXPECT_EQ(j->Load(kT0).value(), want);
  // Shorter than written; the file header damaged; gone.
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(FileSize(path) - 1)), 0);
  EXPECT_EQ(j->Load(kT0).status().code(), "KVS_STORE_CORRUPT");
  ::close(fd);
  const std::string open_path = FragPath(t.path(), kT0 + 1);
  auto open_file = ReadAll(open_path);
  open_file[0] ^= 1;
  WriteAll(open_path, open_file);
  EXPECT_EQ(j->Load(kT0 + 1).status().code(), "KVS_STORE_CORRUPT");
  ::unlink(open_path.c_str());
  EXPECT_EQ(j->Load(kT0 + 1).status().code(), "KVS_STORE_IO");
}

// ENOSPC stands in as EFBIG: RLIMIT_FSIZE makes write() fail past a size
// (SIGXFSZ ignored), the same path as a full disk.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    struct rlimit r = old_;
    r.rlim_cur = static_cast<rlim_t>(bytes);
    ok_ = ::setrlimit(RLIMIT_FSIZE, &r) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  struct rlimit old_;
  void (*old_handler_)(int);
  bool ok_ = false;
};

TEST(FragmentJournal, AFailedWriteLeavesTheFileAtItsLastWholeRecord) {
  TempDir t;
  const std::string path = FragPath(t.path(), kT0);
  std::vector<uint8_t> want;
  {
    auto j = MustOpen(t.path());
    want = WriteFragment(*j, kT0, {1000, 1000, 1000});
    const uint64_t whole = FileSize(path);
    ASSERT_EQ(whole, kH + 3 * (kR + 1000));
    auto big = Payload(1000, 77);
    // The limit inside the record's payload (a short write, then EFBIG), in
    // its header, and at the file's end (EFBIG at once).
    for (uint64_t room : {uint64_t{kR + 500}, uint64_t{10}, uint64_t{0}}) {
      Status s;
      {
        FileSizeLimit limit(whole + room);
        ASSERT_TRUE(limit.ok());
        s = j->Append(big.data(), big.size(), kT0 + 999);
      }
      EXPECT_EQ(s.code(), "KVS_STORE_IO") << room;
      EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
      EXPECT_NE(s.message().find(std::strerror(EFBIG)), std::string::npos) << s.message();
      EXPECT_EQ(FileSize(path), whole) << room;
      EXPECT_EQ(j->DiskBytes(), whole);
      EXPECT_EQ(j->Load(kT0).value(), want);
    }
    // Once there is room again, appends go on in the same file.
    auto more = Payload(10, 3);
    ASSERT_TRUE(j->Append(more.data(), more.size(), kT0 + 100).ok());
    want.insert(want.end(), more.begin(), more.end());
  }
  JournalRecovery rec;
  auto j = MustOpen(t.path(), &rec);
  EXPECT_TRUE(rec.warnings.empty()) << Joined(rec.warnings);
  ASSERT_EQ(rec.fragments.size(), 1u);
  EXPECT_EQ(rec.fragments[0].frames, 4u);
  EXPECT_EQ(j->Load(kT0).value(), want);
}

TEST(FragmentJournal, AFailedWriteThenACrashRecoversEverythingBefore) {
  // The child fills its file to the limit and dies without closing anything.
  TempDir t;
  const std::string dir = t.path();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = FragmentJournal::Open(dir, nullptr);
    if (!r.ok()) ::_exit(2);
    auto j = std::move(r).value();
    if (!j->Begin(kT0).ok()) ::_exit(3);
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim;
    ::getrlimit(RLIMIT_FSIZE, &lim);
    lim.rlim_cur = 100000;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(4);
    auto p = Payload(3000, 1);
    int n = 0;
    while (j->Append(p.data(), p.size(), kT0 + n).ok()) ++n;
    ::_exit(n == (100000 - 24) / (3000 + 24) ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  JournalRecovery rec;
  auto j = MustOpen(dir, &rec);
  EXPECT_TRUE(rec.warnings.empty()) << Joined(rec.warnings);
  ASSERT_EQ(rec.fragments.size(), 1u);
  EXPECT_EQ(rec.fragments[0].frames, (100000u - 24) / (3000 + 24));
  EXPECT_EQ(j->Load(kT0).value().size(), rec.fragments[0].frames * 3000);
}

// Not a test of speed: numbers printed for the record, nothing asserted about time.
TEST(FragmentJournalBench, AppendThroughputAndSyncCost) {
  TempDir t;
  auto j = MustOpen(t.path());
  const auto frame = Payload(30 * 1024, 1);
  using Clock = std::chrono::steady_clock;
  const int kRecords = 2000, kPerFragment = 60;  // 2 s fragments at 30 fps
  uint64_t tc = kT0;
  auto t0 = Clock::now();
  for (int i = 0; i < kRecords; ++i) {
    if (i % kPerFragment == 0) ASSERT_TRUE(j->Begin(tc += 2000).ok());
    ASSERT_TRUE(j->Append(frame.data(), frame.size(), tc + i).ok());
  }
  const double append_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double mb = kRecords * frame.size() / 1e6;
  std::printf("[bench] Append, 30 KiB records, no Sync: %d records (%.1f MB) in %.3f s: %.0f MB/s, %.0f records/s\n", kRecords, mb, append_s, mb / append_s,
              kRecords / append_s);
  ASSERT_TRUE(j->Sync().ok());
  for (const auto& f : j->List()) j->Remove(f.timecode);

  // Sync once per fragment of 60 records (1.8 MB), as a store syncing at each fragment's end would.
  const int kFragments = 10;
  double sync_total = 0, sync_max = 0, write_total = 0;
  for (int f = 0; f < kFragments; ++f) {
    ASSERT_TRUE(j->Begin(tc += 2000).ok());
    auto w0 = Clock::now();
    for (int i = 0; i < kPerFragment; ++i) ASSERT_TRUE(j->Append(frame.data(), frame.size(), tc + i).ok());
    auto s0 = Clock::now();
    ASSERT_TRUE(j->Sync().ok());
    const double s = std::chrono::duration<double>(Clock::now() - s0).count();
    write_total += std::chrono::duration<double>(s0 - w0).count();
    sync_total += s;
    sync_max = std::max(sync_max, s);
  }
  std::printf("[bench] Sync per 1.8 MB fragment (60 x 30 KiB): mean %.2f ms, max %.2f ms (appends %.2f ms per fragment)\n", 1e3 * sync_total / kFragments,
              1e3 * sync_max, 1e3 * write_total / kFragments);
  // And Sync after every record (the worst case a caller could pick).
  ASSERT_TRUE(j->Begin(tc += 2000).ok());
  auto r0 = Clock::now();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(j->Append(frame.data(), frame.size(), tc + i).ok());
    ASSERT_TRUE(j->Sync().ok());
  }
  std::printf("[bench] Append+Sync per 30 KiB record: %.2f ms\n", 1e3 * std::chrono::duration<double>(Clock::now() - r0).count() / 30);
  // CRC-32C alone.
  const auto big = Payload(8 << 20, 2);
  auto c0 = Clock::now();
  uint32_t c = 0;
  for (int i = 0; i < 8; ++i) c = Crc32c(big.data(), big.size(), c);
  const double cs = std::chrono::duration<double>(Clock::now() - c0).count();
  std::printf("[bench] CRC-32C (slicing by 8): %.0f MB/s (crc %08x)\n", 8 * big.size() / 1e6 / cs, c);
}

}  // namespace
}  // namespace kvs
}  // namespace camwire
