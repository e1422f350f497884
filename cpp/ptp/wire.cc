#include "ptp/wire.h"

namespace camwire {
namespace ptp {

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

bool Reader::Str(std::string* utf8) {
  uint8_t n = 0;
  if (!U8(&n)) return false;
  if (left() < size_t{n} * 2) return false;  // the count byte stays taken
  std::u16string u;
  u.reserve(n);
  for (uint8_t i = 0; i < n; ++i) {
    uint16_t c = 0;
    U16(&c);  // present: checked above
    if (c == 0) {
      // The terminator: skip what is left of the declared count.
      Skip(size_t{static_cast<uint8_t>(n - i - 1)} * 2);
      break;
    }
    u.push_back(static_cast<char16_t>(c));
  }
  *utf8 = Utf16To8(u);
  return true;
}

namespace {

// u32 count, then the elements, each read by `read`; all or nothing.
template <typename T, typename Read>
bool ReadArray(ByteReader& r, std::vector<T>* v, size_t max_count, Read read) {
  ByteReader peek = r;
  uint32_t n = 0;
  if (!peek.Le32(&n)) return false;
  if (n > max_count || peek.remaining() / sizeof(T) < n) return false;
  v->resize(n);
  for (uint32_t i = 0; i < n; ++i) read(peek, &(*v)[i]);
  r = peek;
  return true;
}

}  // namespace

bool Reader::U16Array(std::vector<uint16_t>* v, size_t max_count) {
  return ReadArray(r_, v, max_count, [](ByteReader& r, uint16_t* x) { return r.Le16(x); });
}

bool Reader::U32Array(std::vector<uint32_t>* v, size_t max_count) {
  return ReadArray(r_, v, max_count, [](ByteReader& r, uint32_t* x) { return r.Le32(x); });
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
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) | ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
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
