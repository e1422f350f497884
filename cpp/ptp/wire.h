// Little-endian PTP wire values: a Writer that appends, and a Reader that
// checks every length against the bytes present (and a caller's maximum)
// before it allocates or copies anything. PTP strings are u8 count of UTF-16
// code units including the terminating NUL, then the units; camwire keeps
// them as UTF-8 in C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace camwire {
namespace ptp {

class Writer {
 public:
  void U8(uint8_t v) { b_.push_back(v); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  // A PTP string from UTF-8 (at most 254 UTF-16 units; longer is cut at a character boundary).
  void Str(const std::string& utf8);
  void U16Array(const std::vector<uint16_t>& v);
  void U32Array(const std::vector<uint32_t>& v);
  void Bytes(const uint8_t* p, size_t n) { b_.insert(b_.end(), p, p + n); }
  std::vector<uint8_t>& bytes() { return b_; }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  explicit Reader(const std::vector<uint8_t>& v) : p_(v.data()), n_(v.size()) {}

  // Each returns false (and leaves the value untouched) when the bytes run out.
  bool U8(uint8_t* v);
  bool U16(uint16_t* v);
  bool U32(uint32_t* v);
  bool U64(uint64_t* v);
  // A PTP string to UTF-8; invalid UTF-16 becomes U+FFFD. A missing NUL is tolerated.
  bool Str(std::string* utf8);
  // Arrays: u32 count, then the elements; count * size is checked against the bytes left and max_count.
  bool U16Array(std::vector<uint16_t>* v, size_t max_count = 65536);
  bool U32Array(std::vector<uint32_t>* v, size_t max_count = 1u << 20);
  bool Skip(size_t n);

  size_t left() const { return n_ - off_; }
  size_t offset() const { return off_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
};

// UTF-8 <-> UTF-16 helpers (exposed for tests).
std::u16string Utf8To16(const std::string& s);
std::string Utf16To8(const std::u16string& s);

}  // namespace ptp
}  // namespace camwire
