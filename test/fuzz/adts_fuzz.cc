// libFuzzer target: an ADTS stream fed to AdtsStream whole and in pieces of
// fuzzer-chosen, varying sizes must give the same frames (payload bytes,
// header and frame sizes) and end with the same status code, whatever the
// piece boundaries; the payloads and headers handed out never add up to more
// than the input; and nothing may read out of bounds.
#include <cstdlib>
#include <string>
#include <vector>

#include "kvs/aac.h"

using namespace camwire::aac;

namespace {

struct Frame {
  std::vector<uint8_t> payload;
  size_t header_size;
  size_t frame_size;
  bool operator==(const Frame& o) const { return payload == o.payload && header_size == o.header_size && frame_size == o.frame_size; }
};

struct Out {
  std::vector<Frame> frames;
  std::string code;
};

// Piece sizes from a small generator seeded by the input's first two bytes:
// 1..max_piece, changing from piece to piece.
Out Feed(const uint8_t* data, size_t size, uint32_t seed, size_t max_piece) {
  AdtsStream st;
  Out o;
  auto sink = [&](const uint8_t* p, size_t n, const AdtsHeader& h) {
    if (n == 0 || h.header_size + n != h.frame_size || h.frame_size > kMaxFrameBytes) std::abort();
    if (p == nullptr) std::abort();
    o.frames.push_back(Frame{std::vector<uint8_t>(p, p + n), h.header_size, h.frame_size});
    return camwire::Status::Ok();
  };
  camwire::Status s;
  size_t off = 0;
  while (off < size && s.ok()) {
    size_t piece = size - off;
    if (max_piece != 0) {
      seed = seed * 1103515245u + 12345u;
      piece = std::min(piece, 1 + (seed >> 16) % max_piece);
    }
    s = st.Feed(data + off, piece, sink);
    off += piece;
    // About one frame plus the copy window, never the whole input.
    if (st.buffered() > 8193 + 8192) std::abort();
  }
  if (s.ok()) s = st.Finish(sink);
  if (st.frames() != o.frames.size()) std::abort();
  o.code = s.code();
  // A failed stream keeps failing with the same code.
  if (!s.ok() && st.Feed(data, size, sink).code() != s.code()) std::abort();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t seed = data[0] | (data[1] << 8);
  const size_t max_piece = 1 + data[0] % 512;
  data += 2;
  size -= 2;

  // The header parser on its own, at every offset of a short prefix.
  for (size_t i = 0; i < size && i < 16; ++i) {
    camwire::Result<AdtsHeader> h = ParseAdtsHeader(data + i, size - i);
    if (h.ok()) {
      const AdtsHeader& v = h.value();
      if (v.frame_size <= v.header_size || v.sample_rate == 0 || v.channel_config == 0) std::abort();
      if (AudioSpecificConfig(v).size() != 2) std::abort();
    }
  }

  const Out whole = Feed(data, size, seed, 0);
  size_t total = 0;
  for (const Frame& f : whole.frames) total += f.header_size + f.payload.size();
  if (total > size) std::abort();
  const Out pieces = Feed(data, size, seed, max_piece);
  if (!(pieces.frames == whole.frames) || pieces.code != whole.code) std::abort();
  return 0;
}
