// The simulated camera's PTP session layer: operations answered from a
// DirectoryStorage, over any ResponderTransport (PTP/IP now, USB next).
// Sessions run one after another; Serve() runs one connection's session to its
// end. Object data is streamed from and to files in chunks.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "ptp/datasets.h"
#include "ptp/storage.h"
#include "ptp/transport.h"

namespace camwire {
namespace ptp {

struct CameraIdentity {
  std::string manufacturer = "camwire";
  std::string model = "camwire simulated camera";
  std::string device_version;
  std::string serial_number = "CW0000000001";
};

struct ResponderHooks {
  std::function<void(uint32_t session_id)> session_opened;
  std::function<void(uint32_t session_id)> session_closed;
  // An upload target handed over: JSON text, and how ("vendor-op" or "ticket").
  std::function<void(const std::string& json, const std::string& via)> upload_target;
  // A file an initiator sent was stored (path relative to the storage root).
  std::function<void(const std::string& rel_path)> object_received;
  // A file appeared in the storage (found by a rescan), with its handle.
  std::function<void(uint32_t handle, const std::string& rel_path)> object_added;
  // A writable property changed (code, new value as text).
  std::function<void(uint16_t code, const std::string& value)> property_changed;
};

class Responder {
 public:
  Responder(DirectoryStorage& storage, CameraIdentity identity, ResponderHooks hooks);

  // Runs the session on this connection until the initiator closes it or
  // sends something that breaks the protocol (then that error is returned).
  Status Serve(ResponderTransport& t);

  // Events for the connection being served (no-op when none).
  void ObjectAdded(uint32_t handle);
  void ObjectRemoved(uint32_t handle);

  // The vendor property 0xD2A1 LastUploadStatus.
  void SetLastUploadStatus(const std::string& s);
  std::string PropertyText(uint16_t code) const;
  DirectoryStorage& storage() { return storage_; }

  // A fault for tests: the next `count` requests for operation `op` get no
  // answer at all (the initiator's timeout path).
  void StallOperation(uint16_t op, int count) {
    stall_op_ = op;
    stall_count_ = count;
  }

  static constexpr size_t kMaxTicketBytes = 64 * 1024;

 private:
  Response Handle(ResponderTransport& t, const Command& c, Status* fatal);
  DeviceInfo Info() const;
  Response SendObjectInfo(ResponderTransport& t, const Command& c, Status* fatal);
  Response SendObject(ResponderTransport& t, const Command& c, Status* fatal);

  DirectoryStorage& storage_;
  CameraIdentity id_;
  ResponderHooks hooks_;
  mutable std::mutex mu_;
  std::map<uint16_t, DevicePropDesc> props_;
  ResponderTransport* active_ = nullptr;
  bool session_open_ = false;
  uint32_t session_id_ = 0;
  // SendObjectInfo reserved this; SendObject fills it.
  bool pending_ = false;
  bool pending_ticket_ = false;
  StoredObject pending_object_;
  uint32_t pending_handle_ = 0;
  uint32_t next_ticket_handle_ = 0x7F000000;
  std::atomic<uint16_t> stall_op_{0};
  std::atomic<int> stall_count_{0};
};

// Rescans the storage directory on a thread and turns files that appear or
// vanish into ObjectAdded / ObjectRemoved for the session being served
// (both transports use it).
class StorageWatcher {
 public:
  StorageWatcher(DirectoryStorage& storage, Responder& responder, int interval_ms = 500)
      : storage_(storage), responder_(responder), interval_ms_(interval_ms) {}
  ~StorageWatcher() { Stop(); }
  void Start();
  void Stop();

 private:
  DirectoryStorage& storage_;
  Responder& responder_;
  int interval_ms_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace ptp
}  // namespace camwire
