// A disk journal of the producer's fragments: what FragmentStore holds in RAM,
// written to a directory as it arrives, so that a producer with little memory
// or a long outage keeps its backlog on disk, and one that restarts after a
// crash re-sends what KVS had not yet persisted.
//
// Directory layout (DIR is the journal's own directory, mode 0700):
//   DIR/lock                          flock(LOCK_EX|LOCK_NB) while a journal is open
//   DIR/track                         the last SetTrack blob (written via DIR/track.tmp)
//   DIR/%020llu.kvsfrag               one file per fragment, named by its cluster
//                                     timecode: lexical order is time order
// Every file is mode 0600. Other names in DIR are left alone (a warning on open).
//
// Fragment file (all integers little-endian, whatever the host):
//   file header, 24 bytes:
//     0  u32 magic    "CWFJ" (43 57 46 4A)
//     4  u32 version  1
//     8  u64 timecode the cluster timecode; must match the file's name
//    16  u32 reserved 0
//    20  u32 crc      CRC-32C of bytes 0..19
//   then records, back to back, each a 24-byte header and its payload:
//     0  u32 magic    "CWFR" (43 57 46 52)
//     4  u32 length   payload bytes, at most kMaxRecordPayload (64 MiB)
//     8  u64 pts      the frame's presentation time (ms)
//    16  u32 flags    0 in version 1 (any other bit: the record is corrupt)
//    20  u32 crc      CRC-32C of header bytes 0..19, then of the payload
//     24 ...          payload: one frame's bytes as the packager wrote them
//                     (the first record of a fragment starts with the
//                     cluster header); the payloads concatenated are the
//                     cluster's bytes
//
// Track file: 16-byte header (u32 magic "CWTK", u32 version 1, u32 length,
// at most kMaxTrackBlob (1 MiB), u32 CRC-32C of bytes 0..11 and the blob),
// then the blob. Written to track.tmp, fsync'd, renamed over track, and the
// directory fsync'd: a crash leaves the old blob or the new one.
//
// Recovery (Open): every fragment file is scanned record by record. Each
// length is checked against the bound and against the bytes left in the
// file before anything is read, and the CRC is computed through a fixed
// 64 KiB buffer: a corrupt length never allocates. The first record that is
// short (header or payload), has a bad magic, unknown flags or a bad CRC
// ends the file: the file is truncated there (a warning says which file,
// at which offset and how many bytes went) and nothing of that record or
// after it is ever returned. A fragment file with no valid record (a crash
// right after Begin) is removed. A file named like a fragment whose header
// is damaged but which holds more than a header, or whose version is not 1,
// is not ours to destroy: it is ignored and left in place, with a warning.
//
// Durability: Append is one write system call (writev of header and
// payload) and no sync; Sync() is fdatasync of the open fragment (and, the
// first time for a file, fsync of DIR so the new name is durable too);
// Begin syncs the previous fragment before it closes it. A write that fails
// (ENOSPC, EFBIG, EIO) truncates the file back to its last whole record, so
// the journal stays valid and later Appends may succeed again. Remove does
// not sync DIR: after a crash a removed fragment may come back and be sent
// once more (harmless: it was persisted or dropped).
//
// Not thread-safe: the owner (FragmentStore) serialises every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace kvs {

struct JournalFragment {
  uint64_t timecode = 0;  // the cluster timecode (ms since epoch); also the file's name
  uint64_t first_pts = 0, last_pts = 0;
  uint64_t frames = 0;  // records in the file
  uint64_t bytes = 0;   // payload bytes (records' payloads concatenated = the cluster bytes)
};

struct JournalRecovery {
  std::vector<JournalFragment> fragments;  // what was found on open, oldest first
  std::vector<uint8_t> track;              // the last SetTrack blob (empty if none)
  std::vector<std::string> warnings;       // e.g. a torn record dropped: which file, how many bytes
};

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI and ext4
// use it. Pass the previous return value as crc to continue a computation.
uint32_t Crc32c(const uint8_t* data, size_t size, uint32_t crc = 0);

class FragmentJournal {
 public:
  static constexpr uint32_t kMaxRecordPayload = 64u << 20;
  static constexpr uint32_t kMaxTrackBlob = 1u << 20;
  static constexpr size_t kFileHeaderSize = 24;
  static constexpr size_t kRecordHeaderSize = 24;

  // Creates dir (mode 0700, parents too) if missing; takes an exclusive lock
  // (flock on DIR/lock, non-blocking: a second journal on the same directory
  // is KVS_STORE_LOCKED, in this process or another); scans every fragment
  // file, validates each record, truncates a torn or corrupt tail (a warning
  // each), removes files with no valid record. recovery may be null.
  static Result<std::unique_ptr<FragmentJournal>> Open(const std::string& dir, JournalRecovery* recovery);
  ~FragmentJournal();  // fdatasync and close of the open fragment; releases the lock

  FragmentJournal(const FragmentJournal&) = delete;
  FragmentJournal& operator=(const FragmentJournal&) = delete;

  // An opaque blob (the caller's serialisation of the stream header's
  // tracks), at most kMaxTrackBlob bytes, written atomically.
  Status SetTrack(const std::vector<uint8_t>& blob);
  // Starts a new fragment file (the previous open one is fdatasync'd and
  // closed; if that sync fails, the error is returned and the previous one
  // stays open). Timecodes increase strictly, over the recovered ones too.
  Status Begin(uint64_t timecode);
  // Appends one record (one frame's bytes; for the first record of a
  // fragment, the cluster header and the frame) to the open fragment.
  // size is at most kMaxRecordPayload.
  Status Append(const uint8_t* data, size_t size, uint64_t pts);
  // fdatasync of the open fragment file (the caller decides when). OK when
  // nothing is open.
  Status Sync();
  // A fragment's payload bytes, every record's CRC checked again (one that
  // fails, or a file shorter than what was written: KVS_STORE_CORRUPT).
  // Works for the open fragment too (what is written so far).
  Result<std::vector<uint8_t>> Load(uint64_t timecode) const;
  // Deletes a fragment's file (persisted or dropped); the open one too (then
  // nothing is open until the next Begin). Unknown timecodes are ignored.
  void Remove(uint64_t timecode);

  uint64_t DiskBytes() const;  // file bytes (headers included) of all fragments held
  size_t Fragments() const;
  // The fragments held, oldest first (the open one last, if any).
  std::vector<JournalFragment> List() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    JournalFragment info;
    uint64_t file_bytes = 0;  // header and whole records
  };
  explicit FragmentJournal(std::string dir);
  Status CloseOpen(bool sync);
  std::string PathOf(uint64_t timecode) const;

  std::string dir_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;
  std::map<uint64_t, Entry> frags_;
  bool have_last_ = false;
  uint64_t last_timecode_ = 0;  // the highest timecode seen (Begin must exceed it)
  // The open fragment.
  int open_fd_ = -1;
  uint64_t open_tc_ = 0;
  bool open_dir_synced_ = false;  // DIR fsync'd since the file was created
  bool open_broken_ = false;      // a failed write could not be undone: no more appends
};

}  // namespace kvs
}  // namespace camwire
