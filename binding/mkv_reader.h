#pragma once

#include <napi.h>

#include "kvs/mkv_reader.h"

namespace camwire_binding {

// MkvReader: feed(buffer) -> events. Parsing a chunk is a bounded scan of
// element headers (microseconds per network chunk, no I/O), so it runs on the
// caller's thread, like a JSON.parse of a message.
class MkvReaderWrap : public Napi::ObjectWrap<MkvReaderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MkvReaderWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Feed(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  camwire::mkv::StreamReader reader_;
};

}  // namespace camwire_binding
