// Reads bits MSB first from an unescaped RBSP (H.264 and H.265 parameter
// sets): fixed-width fields, Exp-Golomb codes and skips. Past the end, or
// after Fail(), it stays failed and reads zeros: callers check ok() once at
// the points where a wrong value would matter.
#pragma once

#include <cstddef>
#include <cstdint>

namespace camwire {
namespace nal {

class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool ok() const { return ok_; }
  // A value the caller found out of range: the reader fails from here on.
  void Fail() {
    ok_ = false;
    pos_ = size_ * 8;
  }

  // n <= 64.
  uint64_t Bits(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 1) | Bit();
    return v;
  }
  uint32_t Bit() {
    if (pos_ >= size_ * 8) {
      ok_ = false;
      return 0;
    }
    uint32_t b = (data_[pos_ / 8] >> (7 - pos_ % 8)) & 1;
    ++pos_;
    return b;
  }
  // Skips n bits.
  void Skip(size_t n) {
    if (!ok_) return;
    if (n > size_ * 8 - pos_) return Fail();
    pos_ += n;
  }
  // Unsigned Exp-Golomb; more than 31 leading zeros is malformed.
  uint32_t Ue() {
    int zeros = 0;
    while (ok_ && Bit() == 0) {
      if (++zeros > 31) {
        ok_ = false;
        return 0;
      }
    }
    if (!ok_ || zeros == 0) return 0;
    uint64_t v = (uint64_t{1} << zeros) - 1 + Bits(zeros);
    if (v > 0xffffffffull) ok_ = false;
    return static_cast<uint32_t>(v);
  }
  // Signed Exp-Golomb.
  int32_t Se() {
    uint32_t k = Ue();
    return (k & 1) ? static_cast<int32_t>((k + 1) / 2) : -static_cast<int32_t>(k / 2);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace nal
}  // namespace camwire
