// Endian helpers and a bounds-checked reader for bytes that come from a peer.
// Every read checks the remaining length first; a short buffer is an error
// result, never an out-of-bounds access. Parsers (PTP, MKV acks) build on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {

inline uint16_t LoadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t LoadLe64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadLe32(p)) | (static_cast<uint64_t>(LoadLe32(p + 4)) << 32);
}
inline uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
inline uint64_t LoadBe64(const uint8_t* p) {
  return (static_cast<uint64_t>(LoadBe32(p)) << 32) | static_cast<uint64_t>(LoadBe32(p + 4));
}

// Appends integers in a fixed byte order.
class ByteWriter {
 public:
  void U8(uint8_t v) { buf_.push_back(v); }
  void Le16(uint16_t v);
  void Le32(uint32_t v);
  void Le64(uint64_t v);
  void Be16(uint16_t v);
  void Be32(uint32_t v);
  void Be64(uint64_t v);
  void Bytes(const uint8_t* p, size_t n) { buf_.insert(buf_.end(), p, p + n); }
  const std::vector<uint8_t>& data() const { return buf_; }
  std::vector<uint8_t> Take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

// Reads from a borrowed span. Once a read fails the reader stays failed, so a
// parser can read a whole structure and check status() once at the end.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return failed_ ? 0 : size_ - pos_; }
  size_t position() const { return pos_; }
  bool ok() const { return !failed_; }
  Status status() const;

  uint8_t U8();
  uint16_t Le16();
  uint32_t Le32();
  uint64_t Le64();
  uint16_t Be16();
  uint32_t Be32();
  uint64_t Be64();
  // Copies n bytes after checking n against what is present and against
  // max_allowed, so a hostile length never drives an allocation.
  std::vector<uint8_t> Bytes(size_t n, size_t max_allowed);
  void Skip(size_t n);

 private:
  bool Need(size_t n);
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool failed_ = false;
  std::string error_;
};

}  // namespace camwire
