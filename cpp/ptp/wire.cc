#include "ptp/wire.h"

namespace camwire {
namespace ptp {

void Writer::U16(uint16_t v) {
  b_.push_back(static_cast<uint8_t>(v));
  b_.push_back(static_cast<uint8_t>(v >> 8));
}
void Writer::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void Writer::U64(uint64_t v) {
  for (int i = 0; i < 8; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void Writer::Str(const std::string& utf8) {
  std::u16string u = Utf8To16(utf8);
  if (u.size() > 254) {
    u.resize(254);
    // Do not leave half of a surrogate pair.
    if (!u.empty() && u.back() >= 0xD800 && u.back() <= 0xDBFF) u.pop_back();
  }
  if (u.empty()) {
    U8(0);
    return;
  }
  U8(static_cast<uint8_t>(u.size() + 1));
  for (char16_t c : u) U16(static_cast<uint16_t>(c));
  U16(0);
}

void Writer::U16Array(const std::vector<uint16_t>& v) {
  U32(static_cast<uint32_t>(v.size()));
  for (uint16_t x : v) U16(x);
}
void Writer::U32Array(const std::vector<uint32_t>& v) {
  U32(static_cast<uint32_t>(v.size()));
  for (uint32_t x : v) U32(x);
}

bool Reader::U8(uint8_t* v) {
  if (left() < 1) return false;
  *v = p_[off_++];
  return true;
}
bool Reader::U16(uint16_t* v) {
  if (left() < 2) return false;
  *v = static_cast<uint16_t>(p_[off_] | (p_[off_ + 1] << 8));
  off_ += 2;
  return true;
}
bool Reader::U32(uint32_t* v) {
  if (left() < 4) return false;
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i) x = (x << 8) | p_[off_ + static_cast<size_t>(i)];
  *v = x;
  off_ += 4;
  return true;
}
bool Reader::U64(uint64_t* v) {
  if (left() < 8) return false;
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i) x = (x << 8) | p_[off_ + static_cast<size_t>(i)];
  *v = x;
  off_ += 8;
  return true;
}

bool Reader::Str(std::string* utf8) {
  uint8_t n = 0;
  if (!U8(&n)) return false;
  if (left() < size_t{n} * 2) return false;
  std::u16string u;
  u.reserve(n);
  for (uint8_t i = 0; i < n; ++i) {
    uint16_t c = 0;
    U16(&c);
    if (c == 0) {
      // The terminator: skip what is left of the declared count.
      off_ += size_t{static_cast<uint8_t>(n - i - 1)} * 2;
      break;
    }
    u.push_back(static_cast<char16_t>(c));
  }
  *utf8 = Utf16To8(u);
  return true;
}

bool Reader::U16Array(std::vector<uint16_t>* v, size_t max_count) {
  uint32_t n = 0;
  const size_t start = off_;
  if (!U32(&n)) return false;
  if (n > max_count || left() / 2 < n) {
    off_ = start;
    return false;
  }
  v->resize(n);
  for (uint32_t i = 0; i < n; ++i) U16(&(*v)[i]);
  return true;
}

bool Reader::U32Array(std::vector<uint32_t>* v, size_t max_count) {
  uint32_t n = 0;
  const size_t start = off_;
  if (!U32(&n)) return false;
  if (n > max_count || left() / 4 < n) {
    off_ = start;
    return false;
  }
  v->resize(n);
  for (uint32_t i = 0; i < n; ++i) U32(&(*v)[i]);
  return true;
}

bool Reader::Skip(size_t n) {
  if (left() < n) return false;
  off_ += n;
  return true;
}

std::u16string Utf8To16(const std::string& s) {
  std::u16string out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      len = 4;
    }
    i += len;
    if (cp >= 0x10000 && cp <= 0x10FFFF) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char16_t>(cp));
    } else {
      out.push_back(static_cast<char16_t>(0xFFFD));
    }
  }
  return out;
}

std::string Utf16To8(const std::u16string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    uint32_t cp = s[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

}  // namespace ptp
}  // namespace camwire
