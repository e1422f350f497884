#include "ptp/responder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "ptp/codes.h"

namespace camwire {
namespace ptp {

namespace {

// An object's bytes from its file, from an offset, read with pread in chunks.
class FileSource : public DataSource {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path, uint64_t offset, uint64_t max) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Error("PTP_IO", "cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    std::unique_ptr<FileSource> s(new FileSource(fd));
    s->off_ = std::min(offset, size);
    s->size_ = std::min(max, size - s->off_);
    return s;
  }
  ~FileSource() override { ::close(fd_); }
  uint64_t Size() const override { return size_; }
  int FileDescriptor(uint64_t* offset) const override {
    *offset = off_ + done_;
    return fd_;
  }
  void Advance(size_t n) override { done_ += n; }
  Result<size_t> Read(uint8_t* buf, size_t max) override {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(max, size_ - done_));
    if (want == 0) return size_t{0};
    for (;;) {
      const ssize_t r = ::pread(fd_, buf, want, static_cast<off_t>(off_ + done_));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status::Error("PTP_IO", std::string("read: ") + std::strerror(errno));
      done_ += static_cast<uint64_t>(r);
      return static_cast<size_t>(r);
    }
  }

 private:
  explicit FileSource(int fd) : fd_(fd) {}
  int fd_;
  uint64_t off_ = 0;
  uint64_t size_ = 0;
  uint64_t done_ = 0;
};

// Writes a received object to a hidden partial file, renamed into place when complete.
class FileSink : public DataSink {
 public:
  FileSink(std::string final_path, std::string part_path) : final_(std::move(final_path)), part_(std::move(part_path)) {}
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
    if (!done_) ::unlink(part_.c_str());
  }
  Status Begin(uint64_t total) override {
    (void)total;
    fd_ = ::open(part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::Error("PTP_IO", "cannot create " + part_ + ": " + std::strerror(errno));
    return Status::Ok();
  }
  Status Write(const uint8_t* data, size_t size) override { return WriteFully(fd_, data, size); }
  Status Finish() {
    if (fd_ < 0) {
      Status s = Begin(0);
      if (!s.ok()) return s;
    }
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return Status::Error("PTP_IO", std::string("close: ") + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(part_.c_str(), final_.c_str()) != 0) return Status::Error("PTP_IO", std::string("rename: ") + std::strerror(errno));
    done_ = true;
    return Status::Ok();
  }

 private:
  std::string final_;
  std::string part_;
  int fd_ = -1;
  bool done_ = false;
};

// Takes a data phase and throws it away (an operation that fails still has to read it).
class DiscardSink : public DataSink {
 public:
  Status Write(const uint8_t*, size_t) override { return Status::Ok(); }
};

Response Reply(const Command& c, uint16_t code, std::vector<uint32_t> params = {}) {
  Response r;
  r.code = code;
  r.transaction_id = c.transaction_id;
  r.params = std::move(params);
  return r;
}

uint32_t Param(const Command& c, size_t i, uint32_t fallback = 0) { return i < c.params.size() ? c.params[i] : fallback; }

bool ValidUtf8Json(const std::vector<uint8_t>& b) {
  size_t i = 0;
  while (i < b.size() && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t' || b[i] == 0xEF || b[i] == 0xBB || b[i] == 0xBF)) ++i;
  return i < b.size() && b[i] == '{';
}

}  // namespace

Responder::Responder(DirectoryStorage& storage, CameraIdentity identity, ResponderHooks hooks)
    : storage_(storage), id_(std::move(identity)), hooks_(std::move(hooks)) {
  auto str = [](uint16_t code, bool rw, const std::string& v) {
    DevicePropDesc d;
    d.code = code;
    d.datatype = dt::kString;
    d.get_set = rw ? 1 : 0;
    d.factory_default = PropValue::Str(v);
    d.current = PropValue::Str(v);
    return d;
  };
  DevicePropDesc battery;
  battery.code = prop::kBatteryLevel;
  battery.datatype = dt::kUint8;
  battery.get_set = 0;
  battery.factory_default = PropValue::Uint(dt::kUint8, 100);
  battery.current = PropValue::Uint(dt::kUint8, 100);
  battery.form_flag = form::kRange;
  battery.range_min = PropValue::Uint(dt::kUint8, 0);
  battery.range_max = PropValue::Uint(dt::kUint8, 100);
  battery.range_step = PropValue::Uint(dt::kUint8, 1);
  props_[prop::kBatteryLevel] = battery;
  props_[prop::kDateTime] = str(prop::kDateTime, true, PtpDate(std::time(nullptr)));
  props_[prop::kArtist] = str(prop::kArtist, true, "");
  props_[prop::kLastUploadStatus] = str(prop::kLastUploadStatus, false, "none");
}

DeviceInfo Responder::Info() const {
  DeviceInfo d;
  d.standard_version = 100;
  d.operations = {op::kGetDeviceInfo,     op::kOpenSession,        op::kCloseSession,       op::kGetStorageIDs,    op::kGetStorageInfo,
                  op::kGetNumObjects,     op::kGetObjectHandles,   op::kGetObjectInfo,      op::kGetObject,        op::kGetThumb,
                  op::kGetDevicePropDesc, op::kGetDevicePropValue, op::kSetDevicePropValue, op::kGetPartialObject, op::kSetUploadTarget};
  if (storage_.options().allow_delete) d.operations.push_back(op::kDeleteObject);
  if (storage_.options().allow_upload) {
    d.operations.push_back(op::kSendObjectInfo);
    d.operations.push_back(op::kSendObject);
  }
  d.events = {ev::kObjectAdded, ev::kObjectRemoved, ev::kDevicePropChanged};
  for (const auto& kv : props_) d.properties.push_back(kv.first);
  d.playback_formats = KnownFormats();
  d.manufacturer = id_.manufacturer;
  d.model = id_.model;
  d.device_version = id_.device_version;
  d.serial_number = id_.serial_number;
  return d;
}

void Responder::SetLastUploadStatus(const std::string& s) {
  ResponderTransport* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    props_[prop::kLastUploadStatus].current = PropValue::Str(s);
    t = active_;
  }
  if (t) {
    Event e;
    e.code = ev::kDevicePropChanged;
    e.params = {prop::kLastUploadStatus};
    t->SendEvent(e);
  }
}

std::string Responder::PropertyText(uint16_t code) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = props_.find(code);
  if (it == props_.end()) return "";
  const PropValue& v = it->second.current;
  if (v.datatype == dt::kString) return v.s;
  if (v.datatype == dt::kInt8 || v.datatype == dt::kInt16 || v.datatype == dt::kInt32 || v.datatype == dt::kInt64) return std::to_string(v.i);
  return std::to_string(v.u);
}

void Responder::ObjectAdded(uint32_t handle) {
  if (hooks_.object_added) {
    StoredObject o;
    if (storage_.Get(handle, &o)) hooks_.object_added(handle, o.rel_path);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!active_ || !session_open_) return;
  Event e;
  e.code = ev::kObjectAdded;
  e.params = {handle};
  active_->SendEvent(e);
}

void Responder::ObjectRemoved(uint32_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!active_ || !session_open_) return;
  Event e;
  e.code = ev::kObjectRemoved;
  e.params = {handle};
  active_->SendEvent(e);
}

Status Responder::Serve(ResponderTransport& t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = &t;
    session_open_ = false;
    pending_ = false;
  }
  Status result;
  for (;;) {
    Result<Command> c = t.ReadCommand();
    if (!c.ok()) {
      if (c.status().code() != "PTP_CLOSED") result = c.status();
      break;
    }
    if (c.value().code == stall_op_ && stall_count_ > 0 && !c.value().data_out) {
      --stall_count_;
      continue;  // no data, no response: the initiator times out
    }
    Status fatal;
    Response r = Handle(t, c.value(), &fatal);
    if (!fatal.ok()) {
      result = fatal;
      break;
    }
    Status s = t.SendResponse(r);
    if (!s.ok()) {
      result = s;
      break;
    }
  }
  uint32_t closed_session = 0;
  bool was_open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = nullptr;
    was_open = session_open_;
    closed_session = session_id_;
    session_open_ = false;
    pending_ = false;
  }
  if (was_open && hooks_.session_closed) hooks_.session_closed(closed_session);
  return result;
}

Response Responder::Handle(ResponderTransport& t, const Command& c, Status* fatal) {
  // An operation that fails before its data phase still has to take it in.
  auto refuse = [&](uint16_t code) {
    if (c.data_out) {
      DiscardSink d;
      Status s = t.ReceiveData(c.transaction_id, d, UINT64_MAX);
      if (!s.ok()) *fatal = s;
    }
    return Reply(c, code);
  };
  auto send = [&](std::vector<uint8_t> bytes) {
    BufferSource src(std::move(bytes));
    Status s = t.SendData(c.transaction_id, src);
    if (!s.ok()) *fatal = s;
    return Reply(c, rc::kOk);
  };

  if (c.code == op::kGetDeviceInfo) return send(Pack(Info()));
  if (c.code == op::kOpenSession) {
    const uint32_t sid = Param(c, 0);
    if (sid == 0) return Reply(c, rc::kInvalidParameter);
    bool already;
    {
      std::lock_guard<std::mutex> lock(mu_);
      already = session_open_;
      if (!already) {
        session_open_ = true;
        session_id_ = sid;
      }
    }
    if (already) return Reply(c, rc::kSessionAlreadyOpened, {session_id_});
    if (hooks_.session_opened) hooks_.session_opened(sid);
    return Reply(c, rc::kOk);
  }
  bool open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    open = session_open_;
  }
  if (!open) return refuse(rc::kSessionNotOpen);

  switch (c.code) {
    case op::kCloseSession: {
      uint32_t sid;
      {
        std::lock_guard<std::mutex> lock(mu_);
        session_open_ = false;
        sid = session_id_;
      }
      if (hooks_.session_closed) hooks_.session_closed(sid);
      return Reply(c, rc::kOk);
    }
    case op::kGetStorageIDs: {
      Writer w;
      w.U32Array({kStorageId});
      return send(w.bytes());
    }
    case op::kGetStorageInfo: {
      if (Param(c, 0) != kStorageId) return Reply(c, rc::kInvalidStorageId);
      StorageInfo s;
      s.access_capability = storage_.options().allow_upload ? 0 : (storage_.options().allow_delete ? 2 : 1);
      s.max_capacity = storage_.Capacity();
      s.free_space_bytes = storage_.FreeSpace();
      s.description = "camwire storage";
      s.volume_label = storage_.root();
      return send(Pack(s));
    }
    case op::kGetNumObjects:
    case op::kGetObjectHandles: {
      const uint32_t store = Param(c, 0);
      const uint16_t format = static_cast<uint16_t>(Param(c, 1));
      const uint32_t assoc = Param(c, 2);
      if (store != kAllStorages && store != kStorageId) return Reply(c, rc::kInvalidStorageId);
      if (assoc != 0 && assoc != kRootParent) {
        StoredObject parent;
        if (!storage_.Get(assoc, &parent) || !parent.dir) return Reply(c, rc::kInvalidParentObject);
      }
      std::vector<uint32_t> handles;
      for (uint32_t h : storage_.Handles(assoc)) {
        StoredObject o;
        if (format != 0 && storage_.Get(h, &o) && FormatForName(o.name, o.dir) != format) continue;
        handles.push_back(h);
      }
      if (c.code == op::kGetNumObjects) return Reply(c, rc::kOk, {static_cast<uint32_t>(handles.size())});
      Writer w;
      w.U32Array(handles);
      return send(w.bytes());
    }
    case op::kGetObjectInfo: {
      StoredObject o;
      if (!storage_.Get(Param(c, 0), &o)) return Reply(c, rc::kInvalidObjectHandle);
      ObjectInfo oi;
      oi.storage_id = kStorageId;
      oi.object_format = FormatForName(o.name, o.dir);
      oi.compressed_size = o.size > 0xFFFFFFFEull ? 0xFFFFFFFFu : static_cast<uint32_t>(o.size);
      oi.parent_object = o.parent;
      oi.association_type = o.dir ? 1 : 0;  // GenericFolder
      oi.filename = o.name;
      oi.capture_date = PtpDate(o.mtime);
      oi.modification_date = oi.capture_date;
      return send(Pack(oi));
    }
    case op::kGetObject:
    case op::kGetPartialObject: {
      StoredObject o;
      if (!storage_.Get(Param(c, 0), &o)) return Reply(c, rc::kInvalidObjectHandle);
      if (o.dir) return Reply(c, rc::kInvalidObjectHandle);
      const bool partial = c.code == op::kGetPartialObject;
      const uint64_t offset = partial ? Param(c, 1) : 0;
      const uint64_t max = partial ? Param(c, 2) : UINT64_MAX;
      if (offset > o.size) return Reply(c, rc::kInvalidParameter);
      Result<std::unique_ptr<FileSource>> src = FileSource::Open(storage_.FullPath(o), offset, max);
      if (!src.ok()) return Reply(c, rc::kGeneralError);
      const uint64_t n = src.value()->Size();
      Status s = t.SendData(c.transaction_id, *src.value());
      if (!s.ok()) *fatal = s;
      return Reply(c, rc::kOk, partial ? std::vector<uint32_t>{static_cast<uint32_t>(n)} : std::vector<uint32_t>{});
    }
    case op::kGetThumb: {
      StoredObject o;
      if (!storage_.Get(Param(c, 0), &o)) return Reply(c, rc::kInvalidObjectHandle);
      return Reply(c, rc::kNoThumbnailPresent);
    }
    case op::kDeleteObject: {
      if (!storage_.options().allow_delete) return Reply(c, rc::kObjectWriteProtected);
      Status s = storage_.Delete(Param(c, 0));
      if (!s.ok()) return Reply(c, s.code() == "PTP_INVALID_HANDLE" ? rc::kInvalidObjectHandle : rc::kGeneralError);
      return Reply(c, rc::kOk);
    }
    case op::kSendObjectInfo:
      return SendObjectInfo(t, c, fatal);
    case op::kSendObject:
      return SendObject(t, c, fatal);
    case op::kGetDevicePropDesc:
    case op::kGetDevicePropValue: {
      DevicePropDesc d;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = props_.find(static_cast<uint16_t>(Param(c, 0)));
        if (it == props_.end()) return Reply(c, rc::kDevicePropNotSupported);
        d = it->second;
      }
      if (c.code == op::kGetDevicePropDesc) {
        Result<std::vector<uint8_t>> b = Pack(d);
        if (!b.ok()) return Reply(c, rc::kGeneralError);
        return send(std::move(b).value());
      }
      Writer w;
      if (!PackValue(w, d.current).ok()) return Reply(c, rc::kGeneralError);
      return send(w.bytes());
    }
    case op::kSetDevicePropValue: {
      const uint16_t code = static_cast<uint16_t>(Param(c, 0));
      BufferSink sink(4096);
      Status s = t.ReceiveData(c.transaction_id, sink, 4096);
      if (!s.ok()) {
        *fatal = s;
        return Reply(c, rc::kGeneralError);
      }
      std::string text;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = props_.find(code);
        if (it == props_.end()) return Reply(c, rc::kDevicePropNotSupported);
        if (it->second.get_set == 0) return Reply(c, rc::kAccessDenied);
        Reader r(sink.bytes());
        Result<PropValue> v = UnpackValue(r, it->second.datatype);
        if (!v.ok() || r.left() != 0) return Reply(c, rc::kInvalidDevicePropFormat);
        it->second.current = v.value();
        text = v.value().datatype == dt::kString ? v.value().s : std::to_string(v.value().u);
      }
      if (hooks_.property_changed) hooks_.property_changed(code, text);
      return Reply(c, rc::kOk);
    }
    case op::kSetUploadTarget: {
      if (!c.data_out) return Reply(c, rc::kInvalidParameter);
      BufferSink sink(kMaxTicketBytes);
      Status s = t.ReceiveData(c.transaction_id, sink, kMaxTicketBytes);
      if (!s.ok()) {
        *fatal = s;
        return Reply(c, rc::kGeneralError);
      }
      if (!ValidUtf8Json(sink.bytes())) return Reply(c, rc::kInvalidDataSet);
      if (hooks_.upload_target) hooks_.upload_target(std::string(sink.bytes().begin(), sink.bytes().end()), "vendor-op");
      return Reply(c, rc::kOk);
    }
    default:
      return refuse(rc::kOperationNotSupported);
  }
}

namespace {
bool EndsWith(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(), [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}
}  // namespace

Response Responder::SendObjectInfo(ResponderTransport& t, const Command& c, Status* fatal) {
  BufferSink sink(64 * 1024);
  Status s = t.ReceiveData(c.transaction_id, sink, 64 * 1024);
  if (!s.ok()) {
    *fatal = s;
    return Reply(c, rc::kGeneralError);
  }
  if (!storage_.options().allow_upload) return Reply(c, rc::kStoreReadOnly);
  if (Param(c, 0) != 0 && Param(c, 0) != kStorageId) return Reply(c, rc::kInvalidStorageId);
  Result<ObjectInfo> oi = UnpackObjectInfo(sink.bytes().data(), sink.bytes().size());
  if (!oi.ok()) return Reply(c, rc::kInvalidDataSet);
  const uint32_t parent = Param(c, 1);
  const bool dir = oi.value().object_format == fmt::kAssociation;
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = false;
  if (!dir && EndsWith(oi.value().filename, ".camwire.json")) {
    // A ticket: handed over, never stored.
    if (oi.value().compressed_size > kMaxTicketBytes) return Reply(c, rc::kStoreFull);
    pending_ = true;
    pending_ticket_ = true;
    pending_handle_ = next_ticket_handle_++;
    return Reply(c, rc::kOk, {kStorageId, parent, pending_handle_});
  }
  if (!dir && oi.value().compressed_size != 0xFFFFFFFFu && oi.value().compressed_size > storage_.FreeSpace()) return Reply(c, rc::kStoreFull);
  Result<StoredObject> reserved = storage_.Reserve(parent, oi.value().filename, dir, oi.value().compressed_size);
  if (!reserved.ok()) return Reply(c, reserved.status().code() == "PTP_INVALID_PARENT" ? rc::kInvalidParentObject : rc::kStoreFull);
  if (dir) {
    if (::mkdir(storage_.FullPath(reserved.value()).c_str(), 0755) != 0) return Reply(c, rc::kGeneralError);
    const uint32_t h = storage_.Commit(reserved.value());
    return Reply(c, rc::kOk, {kStorageId, parent, h});
  }
  pending_ = true;
  pending_ticket_ = false;
  pending_object_ = reserved.value();
  pending_handle_ = 0;
  return Reply(c, rc::kOk, {kStorageId, parent, 0x7E000000u + static_cast<uint32_t>(c.transaction_id & 0xFFFFFF)});
}

Response Responder::SendObject(ResponderTransport& t, const Command& c, Status* fatal) {
  bool pending;
  bool ticket;
  StoredObject target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending = pending_;
    ticket = pending_ticket_;
    target = pending_object_;
    pending_ = false;
  }
  if (!pending) {
    DiscardSink d;
    Status s = t.ReceiveData(c.transaction_id, d, UINT64_MAX);
    if (!s.ok()) *fatal = s;
    return Reply(c, rc::kNoValidObjectInfo);
  }
  if (ticket) {
    BufferSink sink(kMaxTicketBytes);
    Status s = t.ReceiveData(c.transaction_id, sink, kMaxTicketBytes);
    if (!s.ok()) {
      *fatal = s;
      return Reply(c, rc::kGeneralError);
    }
    if (!ValidUtf8Json(sink.bytes())) return Reply(c, rc::kInvalidDataSet);
    if (hooks_.upload_target) hooks_.upload_target(std::string(sink.bytes().begin(), sink.bytes().end()), "ticket");
    return Reply(c, rc::kOk);
  }
  const std::string final_path = storage_.FullPath(target);
  const size_t slash = final_path.rfind('/');
  const std::string part = final_path.substr(0, slash + 1) + ".camwire-" + final_path.substr(slash + 1) + ".part";
  FileSink sink(final_path, part);
  Status s = t.ReceiveData(c.transaction_id, sink, storage_.FreeSpace());
  if (!s.ok()) {
    if (s.code() == "PTP_TOO_LARGE") {
      *fatal = s;
      return Reply(c, rc::kStoreFull);
    }
    *fatal = s;
    return Reply(c, rc::kIncompleteTransfer);
  }
  s = sink.Finish();
  if (!s.ok()) return Reply(c, rc::kGeneralError);
  storage_.Commit(target);
  if (hooks_.object_received) hooks_.object_received(target.rel_path);
  return Reply(c, rc::kOk);
}

void StorageWatcher::Start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] {
    int waited = 0;
    while (running_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      waited += 50;
      if (waited < interval_ms_) continue;
      waited = 0;
      std::vector<uint32_t> added;
      std::vector<uint32_t> removed;
      if (!storage_.Scan(&added, &removed).ok()) continue;
      for (uint32_t h : added) responder_.ObjectAdded(h);
      for (uint32_t h : removed) responder_.ObjectRemoved(h);
    }
  });
}

void StorageWatcher::Stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
}

}  // namespace ptp
}  // namespace camwire
