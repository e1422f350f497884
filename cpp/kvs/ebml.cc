#include "kvs/ebml.h"

#include <cstring>

#include "common/bytes.h"

namespace camwire {
namespace ebml {

int VintWidth(uint64_t v) {
  for (int w = 1; w <= 8; ++w) {
    // Largest value of width w is 2^(7w) - 2 (all ones means unknown).
    const uint64_t max = (w == 8) ? ((uint64_t{1} << 56) - 2) : ((uint64_t{1} << (7 * w)) - 2);
    if (v <= max) return w;
  }
  return 0;
}

bool AppendVint(std::vector<uint8_t>& out, uint64_t v, int width) {
  const int need = VintWidth(v);
  if (need == 0) return false;
  if (width == 0) width = need;
  if (width < need || width > 8) return false;
  const uint64_t marked = v | (uint64_t{1} << (7 * width));
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(marked >> (8 * i)));
  return true;
}

void AppendUnknownSize(std::vector<uint8_t>& out, int width) {
  out.push_back(static_cast<uint8_t>(0xff >> (width - 1)));
  for (int i = 1; i < width; ++i) out.push_back(0xff);
}

void AppendId(std::vector<uint8_t>& out, uint32_t id) {
  int bytes = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(id >> (8 * i)));
}

void Writer::UInt(uint32_t id, uint64_t v, int fixed_bytes) {
  int n = fixed_bytes;
  if (n == 0) {
    n = 1;
    while (n < 8 && (v >> (8 * n)) != 0) ++n;
  }
  AppendId(out_, id);
  AppendVint(out_, static_cast<uint64_t>(n));
  for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void Writer::String(uint32_t id, const std::string& s) { Binary(id, reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

void Writer::Binary(uint32_t id, const uint8_t* data, size_t size) {
  AppendId(out_, id);
  AppendVint(out_, size);
  out_.insert(out_.end(), data, data + size);
}

void Writer::Float(uint32_t id, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  AppendId(out_, id);
  AppendVint(out_, 8);
  AppendBe64(out_, bits);
}

size_t Writer::Begin(uint32_t id, int width) {
  AppendId(out_, id);
  const size_t token = out_.size();
  out_.push_back(static_cast<uint8_t>(width));  // remembered here, replaced by End()
  for (int i = 1; i < width; ++i) out_.push_back(0);
  return token;
}

void Writer::End(size_t token) {
  const int width = out_[token];
  const uint64_t size = out_.size() - token - static_cast<size_t>(width);
  std::vector<uint8_t> v;
  AppendVint(v, size, width);
  std::memcpy(&out_[token], v.data(), v.size());
}

void Writer::BeginUnknown(uint32_t id, int width) {
  AppendId(out_, id);
  AppendUnknownSize(out_, width);
}

}  // namespace ebml
}  // namespace camwire
