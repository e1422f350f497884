#include "common/bytes.h"

namespace camwire {

bool ByteReader::U8(uint8_t* v) {
  if (remaining() < 1) return false;
  *v = data_[pos_++];
  return true;
}

bool ByteReader::Bytes(size_t n, size_t max_allowed, std::vector<uint8_t>* out) {
  if (n > max_allowed || n > remaining()) return false;
  out->assign(data_ + pos_, data_ + pos_ + n);
  pos_ += n;
  return true;
}

bool ByteReader::Skip(size_t n) {
  if (remaining() < n) return false;
  pos_ += n;
  return true;
}

}  // namespace camwire
