// How the producer's pieces hand events to the caller's sink.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "kvs/producer.h"

namespace camwire {
namespace kvs {

class EventEmitter {
 public:
  explicit EventEmitter(Producer::EventSink sink) : sink_(std::move(sink)) {}

  void Emit(ProducerEvent e) {
    if (sink_) sink_(std::move(e));
  }
  void Error(const std::string& code, const std::string& message, bool fatal, uint64_t timecode = 0) {
    ProducerEvent e;
    e.kind = ProducerEvent::kError;
    e.code = code;
    e.message = message;
    e.fatal = fatal;
    e.timecode = timecode;
    Emit(std::move(e));
  }

 private:
  Producer::EventSink sink_;
};

}  // namespace kvs
}  // namespace camwire
