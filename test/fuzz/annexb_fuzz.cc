// libFuzzer target: any bytes through the Annex-B splitter, access-unit
// grouping, AVCC conversion, SPS parsing and avcC building. The checks are
// the sanitizers' (no out-of-bounds, no UB) plus the invariants below.
#include <cstdlib>

#include "kvs/h264.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camwire::h264;
  std::vector<NalUnit> nals = SplitAnnexB(data, size);
  const NalUnit* sps = nullptr;
  const NalUnit* pps = nullptr;
  for (const NalUnit& n : nals) {
    if (n.offset + n.size > size || n.size == 0) std::abort();
    if (n.type == kSps) {
      sps = &n;
      camwire::Result<SpsInfo> r = ParseSps(data + n.offset, n.size);
      if (r.ok() && (r.value().width == 0 || r.value().height == 0)) std::abort();
    }
    if (n.type == kPps) pps = &n;
  }
  if (sps && pps) (void)BuildAvcC(data + sps->offset, sps->size, data + pps->offset, pps->size);
  size_t units = 0;
  for (const AccessUnit& au : GroupAccessUnits(data, nals)) {
    units += au.nals.size();
    std::vector<uint8_t> avcc = ToAvcc(data, au);
    if (avcc.size() > size + 4 * au.nals.size()) std::abort();
  }
  if (units != nals.size()) std::abort();
  return 0;
}
