// The one byte reader and writer of the C++ core: fixed-order integers
// (little endian for PTP, big endian for Matroska and H.264) appended to a
// buffer, and a bounds-checked reader for bytes that come from a peer. Every
// read checks the remaining length first; a short buffer is a false result,
// never an out-of-bounds access, and a length is checked against the bytes
// present (and the caller's maximum) before anything is allocated. PTP's
// strings and arrays (ptp/wire.h) and the MKV/H.264 writers build on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace camwire {

inline uint16_t LoadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t LoadLe64(const uint8_t* p) { return static_cast<uint64_t>(LoadLe32(p)) | (static_cast<uint64_t>(LoadLe32(p + 4)) << 32); }
inline uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
inline uint64_t LoadBe64(const uint8_t* p) { return (static_cast<uint64_t>(LoadBe32(p)) << 32) | static_cast<uint64_t>(LoadBe32(p + 4)); }
// An unsigned big-endian integer of n bytes (EBML); bytes past the eighth are ignored.
inline uint64_t LoadBeN(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Appending to a byte vector that someone else owns.
inline void AppendLe16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
inline void AppendLe32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void AppendLe64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void AppendBe16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
inline void AppendBe32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void AppendBe64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Appends integers in a fixed byte order to a buffer of its own.
class ByteWriter {
 public:
  void U8(uint8_t v) { buf_.push_back(v); }
  void Le16(uint16_t v) { AppendLe16(buf_, v); }
  void Le32(uint32_t v) { AppendLe32(buf_, v); }
  void Le64(uint64_t v) { AppendLe64(buf_, v); }
  void Be16(uint16_t v) { AppendBe16(buf_, v); }
  void Be32(uint32_t v) { AppendBe32(buf_, v); }
  void Be64(uint64_t v) { AppendBe64(buf_, v); }
  void Bytes(const uint8_t* p, size_t n) { buf_.insert(buf_.end(), p, p + n); }
  std::vector<uint8_t>& bytes() { return buf_; }
  const std::vector<uint8_t>& bytes() const { return buf_; }
  std::vector<uint8_t> Take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

// Reads from a borrowed span. Each read returns false when the bytes run out
// and then leaves both the value and the position untouched, so a parser can
// try, copy the reader to peek ahead, or report where it stopped.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  explicit ByteReader(const std::vector<uint8_t>& v) : data_(v.data()), size_(v.size()) {}

  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }

  bool U8(uint8_t* v);
  bool Le16(uint16_t* v) { return Load(v, 2, LoadLe16); }
  bool Le32(uint32_t* v) { return Load(v, 4, LoadLe32); }
  bool Le64(uint64_t* v) { return Load(v, 8, LoadLe64); }
  bool Be16(uint16_t* v) { return Load(v, 2, LoadBe16); }
  bool Be32(uint32_t* v) { return Load(v, 4, LoadBe32); }
  bool Be64(uint64_t* v) { return Load(v, 8, LoadBe64); }
  // Copies n bytes after checking n against max_allowed and against what is
  // present, so a hostile length never drives an allocation.
  bool Bytes(size_t n, size_t max_allowed, std::vector<uint8_t>* out);
  bool Skip(size_t n);

 private:
  template <typename T>
  bool Load(T* v, size_t n, T (*load)(const uint8_t*)) {
    if (remaining() < n) return false;
    *v = load(data_ + pos_);
    pos_ += n;
    return true;
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace camwire
