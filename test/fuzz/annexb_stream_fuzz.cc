// libFuzzer target: an Annex-B stream fed to AnnexBStream in pieces (and
// collecting steps) of fuzzer-chosen sizes must yield exactly the frames the whole-buffer parser
// finds (same AVCC bytes, same key-frame flags), whatever the piece
// boundaries; and nothing may read out of bounds.
#include <cstdlib>

#include "kvs/annexb_stream.h"

using namespace camwire::h264;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 64;
  const size_t step = 1 + data[1] % 32;  // how much of a piece a unit being collected takes first
  data += 2;
  size -= 2;
  std::vector<std::vector<uint8_t>> whole;
  std::vector<bool> whole_key;
  for (const AccessUnit& au : GroupAccessUnits(data, SplitAnnexB(data, size))) {
    if (!HasSlice(au)) continue;
    whole.push_back(ToAvcc(data, au));
    whole_key.push_back(au.keyframe);
  }
  std::vector<std::vector<uint8_t>> streamed;
  std::vector<bool> streamed_key;
  AnnexBStream s(1 << 20, Codec::kH264, step);
  auto sink = [&](const uint8_t* d, const AccessUnit& au) {
    streamed.push_back(ToAvcc(d, au));
    streamed_key.push_back(au.keyframe);
    return camwire::Status::Ok();
  };
  for (size_t off = 0; off < size; off += piece) {
    if (!s.Feed(data + off, std::min(piece, size - off), sink).ok()) return 0;
  }
  if (!s.Finish(sink).ok()) return 0;
  if (streamed != whole || streamed_key != whole_key) std::abort();
  return 0;
}
