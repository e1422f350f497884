#pragma once

#include <napi.h>

#include <memory>

#include "env_state.h"
#include "event_queue.h"
#include "kvs/producer.h"

namespace camwire_binding {

// KvsProducer: the native side of ts/kvs/stream.ts. putFrame/putAnnexB pin
// the caller's Buffer (a reference, no copy) and queue it for the network
// loop; the loop hands it back once it is packaged. Events and unpins come
// back in batches through the stream's EventQueue: onEvents(events, queuedBytes).
// The queue keeps the process alive until the stream has closed; at
// environment teardown the stream is aborted.
class KvsProducerWrap : public Napi::ObjectWrap<KvsProducerWrap>, public EnvResident {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit KvsProducerWrap(const Napi::CallbackInfo& info);
  ~KvsProducerWrap() override;
  void Teardown() override;

 private:
  Napi::Value PutFrame(const Napi::CallbackInfo& info);
  Napi::Value PutAudio(const Napi::CallbackInfo& info);
  Napi::Value PutAnnexB(const Napi::CallbackInfo& info);
  Napi::Value SetCredentials(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Metrics(const Napi::CallbackInfo& info);

  Napi::Value Enqueue(const Napi::CallbackInfo& info, Napi::Buffer<uint8_t> buf, bool annexb, uint64_t pts, int keyframe, bool audio = false);

  Residency residency_;
  std::shared_ptr<EventQueue<camwire::kvs::ProducerEvent>> queue_;
  std::shared_ptr<camwire::kvs::Producer> producer_;
};

// kvsTransport(): libcurl's version and the TLS library it runs on in this process.
Napi::Value KvsTransport(const Napi::CallbackInfo& info);

}  // namespace camwire_binding
