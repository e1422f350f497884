#include "ptp/initiator.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/files.h"
#include "ptp/codes.h"

namespace camwire {
namespace ptp {

namespace {

const char* ResponseName(uint16_t code) {
  switch (code) {
    case rc::kGeneralError:
      return "GeneralError";
    case rc::kSessionNotOpen:
      return "SessionNotOpen";
    case rc::kOperationNotSupported:
      return "OperationNotSupported";
    case rc::kParameterNotSupported:
      return "ParameterNotSupported";
    case rc::kIncompleteTransfer:
      return "IncompleteTransfer";
    case rc::kInvalidStorageId:
      return "InvalidStorageID";
    case rc::kInvalidObjectHandle:
      return "InvalidObjectHandle";
    case rc::kDevicePropNotSupported:
      return "DevicePropNotSupported";
    case rc::kStoreFull:
      return "StoreFull";
    case rc::kObjectWriteProtected:
      return "ObjectWriteProtected";
    case rc::kStoreReadOnly:
      return "StoreReadOnly";
    case rc::kAccessDenied:
      return "AccessDenied";
    case rc::kNoThumbnailPresent:
      return "NoThumbnailPresent";
    case rc::kNoValidObjectInfo:
      return "NoValidObjectInfo";
    case rc::kDeviceBusy:
      return "DeviceBusy";
    case rc::kInvalidParentObject:
      return "InvalidParentObject";
    case rc::kInvalidDevicePropFormat:
      return "InvalidDevicePropFormat";
    case rc::kInvalidParameter:
      return "InvalidParameter";
    case rc::kSessionAlreadyOpened:
      return "SessionAlreadyOpened";
    case rc::kInvalidDataSet:
      return "InvalidDataSet";
    default:
      return "unknown";
  }
}

class FileWriter : public DataSink {
 public:
  explicit FileWriter(int fd) : fd_(fd) {}
  ~FileWriter() override {
    if (pipe_[0] >= 0) ::close(pipe_[0]);
    if (pipe_[1] >= 0) ::close(pipe_[1]);
  }
  Status Write(const uint8_t* data, size_t size) override {
    Status s = WriteFully(fd_, data, size);
    if (s.ok()) written_ += size;
    return s;
  }
  // Socket to file through a 1 MiB pipe (made on first use; none: plain writes).
  int SpliceFds(int* pipe_read, int* pipe_write) override {
    if (pipe_[0] < 0 && !pipe_failed_) {
      if (::pipe2(pipe_, O_CLOEXEC) != 0) {
        pipe_failed_ = true;
        pipe_[0] = pipe_[1] = -1;
      } else {
        (void)::fcntl(pipe_[1], F_SETPIPE_SZ, 1 << 20);  // the default 64 KiB if refused
      }
    }
    if (pipe_[0] < 0) return -1;
    *pipe_read = pipe_[0];
    *pipe_write = pipe_[1];
    return fd_;
  }
  void Advance(size_t n) override { written_ += n; }
  uint64_t written() const { return written_; }

 private:
  int fd_;
  uint64_t written_ = 0;
  int pipe_[2] = {-1, -1};
  bool pipe_failed_ = false;
};

}  // namespace

Status ResponseError(uint16_t op, uint16_t code) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "operation 0x%04X answered 0x%04X %s", op, code, ResponseName(code));
  const char* c = code == rc::kDeviceBusy ? "PTP_BUSY" : code == rc::kOperationNotSupported ? "PTP_NOT_SUPPORTED" : "PTP_RESPONSE";
  return Status::Error(c, buf);
}

Result<Response> Initiator::Transact(uint16_t code, std::vector<uint32_t> params, DataSource* out, DataSink* in) {
  Command c;
  c.code = code;
  c.transaction_id = code == op::kOpenSession ? 0 : ++tid_;
  c.params = std::move(params);
  c.data_out = out != nullptr;
  Status s = t_->SendCommand(c);
  if (!s.ok()) return s;
  if (out) {
    s = t_->SendData(c.transaction_id, *out);
    if (!s.ok()) return s;
  }
  if (in) {
    bool got = false;
    Response early;
    s = t_->ReceiveData(c.transaction_id, *in, &got, &early);
    if (!s.ok()) return s;
    if (!got) return early;
  }
  Result<Response> r = t_->ReadResponse();
  if (!r.ok()) return r;
  if (r.value().transaction_id != c.transaction_id) {
    return Status::Error("PTP_BAD_PACKET",
                         "a response for transaction " + std::to_string(r.value().transaction_id) + " to transaction " + std::to_string(c.transaction_id));
  }
  return r;
}

Status Initiator::OpenSession(uint32_t session_id) {
  Result<Response> r = Transact(op::kOpenSession, {session_id}, nullptr, nullptr);
  if (!r.ok()) return r.status();
  if (r.value().code != rc::kOk && r.value().code != rc::kSessionAlreadyOpened) return ResponseError(op::kOpenSession, r.value().code);
  session_ = true;
  return Status::Ok();
}

Status Initiator::CloseSession() {
  if (!session_) return Status::Ok();
  session_ = false;
  Result<Response> r = Transact(op::kCloseSession, {}, nullptr, nullptr);
  if (!r.ok()) return r.status();
  return r.value().code == rc::kOk ? Status::Ok() : ResponseError(op::kCloseSession, r.value().code);
}

#define CAMWIRE_PTP_GET(opcode, params, limit, unpack)                         \
  BufferSink sink(limit);                                                      \
  Result<Response> r = Transact(opcode, params, nullptr, &sink);               \
  if (!r.ok()) return r.status();                                              \
  if (r.value().code != rc::kOk) return ResponseError(opcode, r.value().code); \
  return unpack(sink.bytes().data(), sink.bytes().size());

Result<DeviceInfo> Initiator::GetDeviceInfo(){
    CAMWIRE_PTP_GET(op::kGetDeviceInfo, {}, 1 << 20, UnpackDeviceInfo)} Result<StorageInfo> Initiator::GetStorageInfo(uint32_t storage){
    CAMWIRE_PTP_GET(op::kGetStorageInfo, {storage}, 1 << 16, UnpackStorageInfo)} Result<ObjectInfo> Initiator::GetObjectInfo(uint32_t handle){
    CAMWIRE_PTP_GET(op::kGetObjectInfo, {handle}, 1 << 16, UnpackObjectInfo)} Result<DevicePropDesc> Initiator::GetDevicePropDesc(uint16_t code) {
  CAMWIRE_PTP_GET(op::kGetDevicePropDesc, {code}, 1 << 20, UnpackDevicePropDesc)
}
#undef CAMWIRE_PTP_GET

namespace {
Result<std::vector<uint32_t>> U32List(const std::vector<uint8_t>& b) {
  Reader rd(b);
  std::vector<uint32_t> v;
  if (!rd.U32Array(&v)) return Status::Error("PTP_BAD_DATASET", "a handle list whose count does not match its bytes");
  return v;
}
}  // namespace

Result<std::vector<uint32_t>> Initiator::GetStorageIds() {
  BufferSink sink(1 << 16);
  Result<Response> r = Transact(op::kGetStorageIDs, {}, nullptr, &sink);
  if (!r.ok()) return r.status();
  if (r.value().code != rc::kOk) return ResponseError(op::kGetStorageIDs, r.value().code);
  return U32List(sink.bytes());
}

Result<std::vector<uint32_t>> Initiator::GetObjectHandles(uint32_t storage, uint32_t parent) {
  BufferSink sink(16 << 20);
  Result<Response> r = Transact(op::kGetObjectHandles, {storage, 0, parent}, nullptr, &sink);
  if (!r.ok()) return r.status();
  if (r.value().code != rc::kOk) return ResponseError(op::kGetObjectHandles, r.value().code);
  return U32List(sink.bytes());
}

Status Initiator::GetObjectToFile(uint32_t handle, uint64_t size, const std::string& path, bool partial,
                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string part = path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("PTP_IO", "cannot create " + part + ": " + std::strerror(errno));
  FileWriter w(fd);
  Status result;
  if (partial && size != 0xFFFFFFFFull) {
    while (w.written() < size) {
      const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(kPartialChunk, size - w.written()));
      const uint64_t before = w.written();
      Result<Response> r = Transact(op::kGetPartialObject, {handle, static_cast<uint32_t>(before), want}, nullptr, &w);
      if (!r.ok()) {
        result = r.status();
        break;
      }
      if (r.value().code != rc::kOk) {
        result = ResponseError(op::kGetPartialObject, r.value().code);
        break;
      }
      if (w.written() == before) {
        result = Status::Error("PTP_INCOMPLETE", "the camera sent no bytes at offset " + std::to_string(before));
        break;
      }
      if (progress) progress(w.written(), size);
    }
  } else {
    Result<Response> r = Transact(op::kGetObject, {handle}, nullptr, &w);
    if (!r.ok()) {
      result = r.status();
    } else if (r.value().code != rc::kOk) {
      result = ResponseError(op::kGetObject, r.value().code);
    } else if (progress) {
      progress(w.written(), w.written());
    }
  }
  if (::close(fd) != 0 && result.ok()) result = Status::Error("PTP_IO", std::string("close: ") + std::strerror(errno));
  if (result.ok()) {
    const int err = ReplaceFile(part, path);  // not a rename over the old file: ext4 would flush the new one inside rename()
    if (err != 0) result = Status::Error("PTP_IO", std::string("rename: ") + std::strerror(err));
  }
  if (!result.ok()) ::unlink(part.c_str());
  return result;
}

Status Initiator::SetUploadTarget(const std::string& json) {
  BufferSource src(std::vector<uint8_t>(json.begin(), json.end()));
  Result<Response> r = Transact(op::kSetUploadTarget, {}, &src, nullptr);
  if (!r.ok()) return r.status();
  return r.value().code == rc::kOk ? Status::Ok() : ResponseError(op::kSetUploadTarget, r.value().code);
}

Result<uint32_t> Initiator::SendObject(uint32_t storage, uint32_t parent, const ObjectInfo& info, DataSource& data) {
  BufferSource oi(Pack(info));
  Result<Response> r = Transact(op::kSendObjectInfo, {storage, parent}, &oi, nullptr);
  if (!r.ok()) return r.status();
  if (r.value().code != rc::kOk) return ResponseError(op::kSendObjectInfo, r.value().code);
  const uint32_t handle = r.value().params.size() >= 3 ? r.value().params[2] : 0;
  r = Transact(op::kSendObject, {}, &data, nullptr);
  if (!r.ok()) return r.status();
  if (r.value().code != rc::kOk) return ResponseError(op::kSendObject, r.value().code);
  return handle;
}

Status Initiator::SetDevicePropValue(uint16_t code, const PropValue& v) {
  Writer w;
  Status s = PackValue(w, v);
  if (!s.ok()) return s;
  BufferSource src(w.bytes());
  Result<Response> r = Transact(op::kSetDevicePropValue, {code}, &src, nullptr);
  if (!r.ok()) return r.status();
  return r.value().code == rc::kOk ? Status::Ok() : ResponseError(op::kSetDevicePropValue, r.value().code);
}

}  // namespace ptp
}  // namespace camwire
