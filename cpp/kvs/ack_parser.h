// The PutMedia acknowledgement stream: JSON objects, one per event, split
// across HTTP chunks in any way. AckParser takes bytes as they arrive and
// returns each complete ack. It is bounded: one ack may not exceed 1024 bytes
// (as the KVS producer's own parser), strings and nesting are limited, and
// anything malformed is an error result, never a crash or an unbounded buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace kvs {

enum class AckType { kBuffering, kReceived, kPersisted, kError, kIdle, kUnknown };

const char* AckTypeName(AckType t);

struct Ack {
  AckType type = AckType::kUnknown;
  bool has_timecode = false;
  uint64_t fragment_timecode = 0;  // ms, the cluster timecode as sent
  std::string fragment_number;     // decimal, kept as text (about 47 digits)
  uint64_t error_id = 0;
  std::string error_code;
};

class AckParser {
 public:
  static constexpr size_t kMaxAckBytes = 1024;

  // Consumes bytes; appends every ack completed by them to out. After an
  // error the parser stays failed (the connection is to be dropped).
  Status Feed(const uint8_t* data, size_t size, std::vector<Ack>& out);

  // Parses one complete JSON ack object.
  static Result<Ack> ParseObject(const char* text, size_t size);

 private:
  std::string object_;  // bytes of the object being collected
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  Status failed_;
};

}  // namespace kvs
}  // namespace camwire
