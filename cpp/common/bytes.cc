#include "common/bytes.h"

namespace camwire {

void ByteWriter::Le16(uint16_t v) { U8(v & 0xff); U8(v >> 8); }
void ByteWriter::Le32(uint32_t v) { Le16(v & 0xffff); Le16(v >> 16); }
void ByteWriter::Le64(uint64_t v) { Le32(v & 0xffffffffu); Le32(v >> 32); }
void ByteWriter::Be16(uint16_t v) { U8(v >> 8); U8(v & 0xff); }
void ByteWriter::Be32(uint32_t v) { Be16(v >> 16); Be16(v & 0xffff); }
void ByteWriter::Be64(uint64_t v) { Be32(v >> 32); Be32(v & 0xffffffffu); }

Status ByteReader::status() const {
  if (!failed_) return Status::Ok();
  return Status::Error("MALFORMED", error_);
}

bool ByteReader::Need(size_t n) {
  if (failed_) return false;
  if (n > size_ - pos_) {
    failed_ = true;
    error_ = "need " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) + ", only " +
             std::to_string(size_ - pos_) + " present";
    return false;
  }
  return true;
}

uint8_t ByteReader::U8() {
  if (!Need(1)) return 0;
  return data_[pos_++];
}
#define CAMWIRE_READ(name, type, n)      \
  type ByteReader::name() {              \
    if (!Need(n)) return 0;              \
    type v = Load##name(data_ + pos_);   \
    pos_ += n;                           \
    return v;                            \
  }
CAMWIRE_READ(Le16, uint16_t, 2)
CAMWIRE_READ(Le32, uint32_t, 4)
CAMWIRE_READ(Le64, uint64_t, 8)
CAMWIRE_READ(Be16, uint16_t, 2)
CAMWIRE_READ(Be32, uint32_t, 4)
CAMWIRE_READ(Be64, uint64_t, 8)
#undef CAMWIRE_READ

std::vector<uint8_t> ByteReader::Bytes(size_t n, size_t max_allowed) {
  if (failed_) return {};
  if (n > max_allowed) {
    failed_ = true;
    error_ = "length " + std::to_string(n) + " at offset " + std::to_string(pos_) +
             " exceeds the limit of " + std::to_string(max_allowed);
    return {};
  }
  if (!Need(n)) return {};
  std::vector<uint8_t> out(data_ + pos_, data_ + pos_ + n);
  pos_ += n;
  return out;
}

void ByteReader::Skip(size_t n) {
  if (Need(n)) pos_ += n;
}

}  // namespace camwire
