// libFuzzer target: any bytes through the Annex-B splitter (whole, and
// window by window: the same units), access-unit grouping, AVCC conversion,
// SPS parsing and avcC building, and the packager (the same MKV whatever its
// window and whether it goes out whole or through a sink). The checks are
// the sanitizers' (no out-of-bounds, no UB) plus the invariants below.
#include <cstdlib>

#include "kvs/h264.h"
#include "kvs/mkv.h"

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
  const size_t window = size ? 1 + data[0] % 64 : 1;
  AnnexBScanner scan(data, size);
  std::vector<NalUnit> windowed;
  while (scan.Next(window, &windowed)) {
  }
  if (windowed.size() != nals.size()) std::abort();
  for (size_t i = 0; i < nals.size(); ++i) {
    if (windowed[i].offset != nals[i].offset || windowed[i].size != nals[i].size) std::abort();
  }
  camwire::mkv::PackageOptions o;
  camwire::Result<camwire::mkv::PackageResult> whole = camwire::mkv::PackageAnnexB(data, size, o);
  o.window = window;
  o.sink_chunk = 64;
  std::vector<uint8_t> sunk;
  o.sink = [&](const std::vector<camwire::mkv::PackageOptions::Span>& spans) {
    for (const auto& sp : spans) sunk.insert(sunk.end(), sp.data, sp.data + sp.size);
    return camwire::Status::Ok();
  };
  camwire::Result<camwire::mkv::PackageResult> pieces = camwire::mkv::PackageAnnexB(data, size, o);
  if (whole.ok() != pieces.ok()) std::abort();
  if (whole.ok() && sunk != whole.value().mkv) std::abort();
  if (!whole.ok() && whole.status().code() != pieces.status().code()) std::abort();
  return 0;
}
