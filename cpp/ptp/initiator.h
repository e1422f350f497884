// The app side of PTP: a session over any InitiatorTransport (PTP/IP now,
// USB next). Each call is one transaction; GetObjectToFile streams the
// object to disk in chunks (GetPartialObject when the camera has it), so
// memory stays flat whatever the object's size.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ptp/datasets.h"
#include "ptp/transport.h"

namespace camwire {
namespace ptp {

class Initiator {
 public:
  explicit Initiator(std::unique_ptr<InitiatorTransport> t) : t_(std::move(t)) {}

  Status OpenSession(uint32_t session_id = 1);
  Status CloseSession();
  Result<DeviceInfo> GetDeviceInfo();
  Result<std::vector<uint32_t>> GetStorageIds();
  Result<StorageInfo> GetStorageInfo(uint32_t storage);
  Result<std::vector<uint32_t>> GetObjectHandles(uint32_t storage, uint32_t parent);
  Result<ObjectInfo> GetObjectInfo(uint32_t handle);
  // progress(done, total) after each chunk.
  Status GetObjectToFile(uint32_t handle, uint64_t size, const std::string& path, bool partial, const std::function<void(uint64_t, uint64_t)>& progress);
  Status SetUploadTarget(const std::string& json);
  Result<uint32_t> SendObject(uint32_t storage, uint32_t parent, const ObjectInfo& info, DataSource& data);
  Result<DevicePropDesc> GetDevicePropDesc(uint16_t code);
  Status SetDevicePropValue(uint16_t code, const PropValue& v);
  Result<bool> WaitEvent(Event* e, int timeout_ms) { return t_->ReadEvent(e, timeout_ms); }

  static constexpr uint32_t kPartialChunk = 8u << 20;

 private:
  // One transaction: command, optional data out or in, response.
  Result<Response> Transact(uint16_t code, std::vector<uint32_t> params, DataSource* out, DataSink* in);
  std::unique_ptr<InitiatorTransport> t_;
  uint32_t tid_ = 0;
  bool session_ = false;
};

// A response code as a camwire error: PTP_RESPONSE with the code in the message.
Status ResponseError(uint16_t op, uint16_t code);

}  // namespace ptp
}  // namespace camwire
