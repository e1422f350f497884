// EBML writing for Matroska: element ids, variable-length sizes ("vint"),
// typed values, and master elements of known or unknown size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace camwire {
namespace ebml {

// Bytes a vint needs for value v (1..8); values that would be all ones in
// the shorter width (reserved for "unknown") take the next width.
int VintWidth(uint64_t v);
// Appends v as a vint of the given width (0 = minimal). Returns false when v
// does not fit the width or is too large for 8 bytes (2^56 - 2).
bool AppendVint(std::vector<uint8_t>& out, uint64_t v, int width = 0);
// The "unknown size" marker of the given width (1: 0xFF, 8: 01 FF .. FF).
void AppendUnknownSize(std::vector<uint8_t>& out, int width);
// Element ids carry their own length marker; they are written as 1-4 bytes.
void AppendId(std::vector<uint8_t>& out, uint32_t id);

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void UInt(uint32_t id, uint64_t v, int fixed_bytes = 0);
  void String(uint32_t id, const std::string& s);
  void Binary(uint32_t id, const uint8_t* data, size_t size);
  void Float(uint32_t id, double v);
  // Opens a master element with a size field of `width` bytes, patched by End().
  size_t Begin(uint32_t id, int width = 8);
  void End(size_t token);
  // A master element of unknown size (Segment, Cluster when streaming).
  void BeginUnknown(uint32_t id, int width);

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace ebml
}  // namespace camwire
