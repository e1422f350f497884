// The simulated camera's storage: a directory (DCIM layout or anything else)
// presented as one PTP store, 0x00010001. Handles are stable for a path for
// the life of the process; Scan() picks up files that appear or vanish (the
// ObjectAdded / ObjectRemoved events). Names that arrive from initiators are
// sanitised: nothing can escape the directory.
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace ptp {

struct StoredObject {
  uint32_t handle = 0;
  uint32_t parent = 0;  // 0: the store's root
  std::string name;
  std::string rel_path;  // from the storage root, '/'-separated
  bool dir = false;
  uint64_t size = 0;
  std::time_t mtime = 0;
};

struct StorageOptions {
  bool allow_delete = false;
  bool allow_upload = true;
  size_t max_objects = 100000;
  int max_depth = 8;
};

class DirectoryStorage {
 public:
  DirectoryStorage(std::string root, StorageOptions o = StorageOptions());

  // Re-reads the directory. New and vanished handles are appended to the vectors (when given).
  Status Scan(std::vector<uint32_t>* added = nullptr, std::vector<uint32_t>* removed = nullptr);

  // Handles under a parent (kRootParent / 0xFFFFFFFF: the root level; 0: every object).
  std::vector<uint32_t> Handles(uint32_t parent) const;
  bool Get(uint32_t handle, StoredObject* out) const;
  std::string FullPath(const StoredObject& o) const { return root_ + "/" + o.rel_path; }
  const std::string& root() const { return root_; }
  const StorageOptions& options() const { return o_; }

  // Reserves a name for an object an initiator is about to send (SendObjectInfo).
  // parent 0 / 0xFFFFFFFF: the root. A name that exists gets a numbered variant.
  Result<StoredObject> Reserve(uint32_t parent, const std::string& name, bool dir, uint64_t size);
  // Registers a file or folder written at a reserved place.
  uint32_t Commit(const StoredObject& reserved);
  Status Delete(uint32_t handle);

  uint64_t Capacity() const;
  uint64_t FreeSpace() const;

 private:
  uint32_t HandleFor(const std::string& rel);
  Status Walk(const std::string& rel, uint32_t parent, int depth, std::map<std::string, StoredObject>& seen);

  std::string root_;
  StorageOptions o_;
  mutable std::mutex mu_;
  uint32_t next_handle_ = 1;
  std::map<std::string, uint32_t> handles_;   // rel path -> handle, kept across scans
  std::map<uint32_t, StoredObject> objects_;  // present now
};

// A file name from a peer made safe for one path segment: no separators, no
// "." / "..", no control characters, at most 200 bytes; never empty.
std::string SanitizeName(const std::string& name);
// The PTP object format for a file name (by extension); folders are Association.
uint16_t FormatForName(const std::string& name, bool dir);
// Every format FormatForName can answer, for DeviceInfo's playback formats.
std::vector<uint16_t> KnownFormats();

}  // namespace ptp
}  // namespace camwire
