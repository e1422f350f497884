// Test helper: writes RBSP bits and Exp-Golomb codes, then escapes them into
// a NAL unit behind its header (H.264's one byte, H.265's two).
#pragma once

#include <cstdint>
#include <vector>

namespace camwire {
namespace testing {

class BitWriter {
 public:
  void Bits(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) Bit(static_cast<uint32_t>((v >> i) & 1));
  }
  void Bit(uint32_t b) {
    if (bit_ == 0) bytes_.push_back(0);
    if (b) bytes_.back() |= static_cast<uint8_t>(0x80 >> bit_);
    bit_ = (bit_ + 1) % 8;
  }
  void Ue(uint32_t v) {
    uint64_t x = uint64_t{v} + 1;
    int len = 0;
    while ((x >> len) > 1) ++len;
    Bits(0, len);
    for (int i = len; i >= 0; --i) Bit((x >> i) & 1);
  }
  void Se(int32_t v) { Ue(v > 0 ? static_cast<uint32_t>(2 * v - 1) : static_cast<uint32_t>(-2 * v)); }
  // rbsp_trailing_bits, then the header and the escaped bytes (emulation prevention).
  std::vector<uint8_t> Nal(std::vector<uint8_t> header) {
    Bit(1);
    while (bit_ != 0) Bit(0);
    std::vector<uint8_t> out = std::move(header);
    int zeros = 0;
    for (uint8_t b : bytes_) {
      if (zeros >= 2 && b <= 3) {
        out.push_back(3);
        zeros = 0;
      }
      out.push_back(b);
      zeros = b == 0 ? zeros + 1 : 0;
    }
    return out;
  }

 private:
  std::vector<uint8_t> bytes_;
  int bit_ = 0;
};

}  // namespace testing
}  // namespace camwire
