// Little-endian PTP wire values: a Writer that appends, and a Reader that
// checks every length against the bytes present (and a caller's maximum)
// before it allocates or copies anything. Both are PTP's layer (strings,
// arrays) over the core's one ByteWriter/ByteReader (common/bytes.h). PTP
// strings are u8 count of UTF-16 code units including the terminating NUL,
// then the units; camwire keeps them as UTF-8 in C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace camwire {
namespace ptp {

class Writer {
 public:
  void U8(uint8_t v) { w_.U8(v); }
  void U16(uint16_t v) { w_.Le16(v); }
  void U32(uint32_t v) { w_.Le32(v); }
  void U64(uint64_t v) { w_.Le64(v); }
  // A PTP string from UTF-8 (at most 254 UTF-16 units; longer is cut at a character boundary).
  void Str(const std::string& utf8);
  void U16Array(const std::vector<uint16_t>& v);
  void U32Array(const std::vector<uint32_t>& v);
  void Bytes(const uint8_t* p, size_t n) { w_.Bytes(p, n); }
  std::vector<uint8_t>& bytes() { return w_.bytes(); }
  const std::vector<uint8_t>& bytes() const { return w_.bytes(); }

 private:
  ByteWriter w_;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : r_(p, n) {}
  explicit Reader(const std::vector<uint8_t>& v) : r_(v) {}

  // Each returns false (and leaves the value and the offset untouched) when the bytes run out.
  bool U8(uint8_t* v) { return r_.U8(v); }
  bool U16(uint16_t* v) { return r_.Le16(v); }
  bool U32(uint32_t* v) { return r_.Le32(v); }
  bool U64(uint64_t* v) { return r_.Le64(v); }
  // A PTP string to UTF-8; invalid UTF-16 becomes U+FFFD. A missing NUL is tolerated.
  bool Str(std::string* utf8);
  // Arrays: u32 count, then the elements; count * size is checked against the bytes left and max_count.
  bool U16Array(std::vector<uint16_t>* v, size_t max_count = 65536);
  bool U32Array(std::vector<uint32_t>* v, size_t max_count = 1u << 20);
  bool Skip(size_t n) { return r_.Skip(n); }

  size_t left() const { return r_.remaining(); }
  size_t offset() const { return r_.position(); }

 private:
  ByteReader r_;
};

// UTF-8 <-> UTF-16 helpers (exposed for tests).
std::u16string Utf8To16(const std::string& s);
std::string Utf16To8(const std::u16string& s);

}  // namespace ptp
}  // namespace camwire
