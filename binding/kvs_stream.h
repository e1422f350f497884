#pragma once

#include <napi.h>

#include <memory>

#include "kvs/producer.h"

namespace camwire_binding {

struct StreamShared;

// KvsProducer: the native side of ts/kvs/stream.ts. putFrame/putAnnexB pin
// the caller's Buffer (a reference, no copy) and queue it for the network
// loop; the loop hands it back once it is packaged. Events and releases come
// back in batches through one thread-safe function: onEvents(events, queuedBytes).
class KvsProducerWrap : public Napi::ObjectWrap<KvsProducerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit KvsProducerWrap(const Napi::CallbackInfo& info);
  ~KvsProducerWrap() override;

 private:
  Napi::Value PutFrame(const Napi::CallbackInfo& info);
  Napi::Value PutAnnexB(const Napi::CallbackInfo& info);
  Napi::Value SetCredentials(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Metrics(const Napi::CallbackInfo& info);

  std::shared_ptr<camwire::kvs::Producer> producer_;
  std::shared_ptr<StreamShared> shared_;
};

// kvsTransport(): libcurl's version and the TLS library it runs on in this process.
Napi::Value KvsTransport(const Napi::CallbackInfo& info);

}  // namespace camwire_binding
