// libFuzzer target: any bytes through the Annex-B splitter (as H.265), HEVC
// access-unit grouping, AVCC conversion, SPS parsing of every SPS and hvcC
// building from the first VPS/SPS/PPS. The checks are the sanitizers' (no
// out-of-bounds, no UB) plus the invariants below.
#include <cstdlib>

#include "kvs/h265.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace camwire;
  using h264::NalUnit;
  std::vector<NalUnit> nals = h264::SplitAnnexB(data, size, h264::Codec::kH265);
  const NalUnit* vps = nullptr;
  const NalUnit* sps = nullptr;
  const NalUnit* pps = nullptr;
  size_t prev_end = 0;
  for (const NalUnit& n : nals) {
    if (n.size == 0 || n.offset < prev_end || n.offset + n.size > size) std::abort();
    prev_end = n.offset + n.size;
    if (n.type != h264::NalTypeOf(h264::Codec::kH265, data[n.offset])) std::abort();
    if (n.type == h265::kVps && !vps) vps = &n;
    if (n.type == h265::kPps && !pps) pps = &n;
    if (n.type == h265::kSps) {
      if (!sps) sps = &n;
      Result<h265::SpsInfo> r = h265::ParseSps(data + n.offset, n.size);
      if (r.ok()) {
        const h265::SpsInfo& s = r.value();
        if (s.width == 0 || s.height == 0 || s.width > s.coded_width || s.height > s.coded_height) std::abort();
        if (s.coded_width > 16888 || s.coded_height > 16888) std::abort();
        if (s.chroma_format_idc > 3 || s.bit_depth_luma < 8 || s.bit_depth_luma > 16 || s.bit_depth_chroma < 8 || s.bit_depth_chroma > 16) std::abort();
        if (s.max_sub_layers < 1 || s.max_sub_layers > 7 || s.sps_id > 15) std::abort();
      } else if (r.status().code() != "H265_MALFORMED_SPS") {
        std::abort();
      }
    }
  }
  if (vps && sps && pps) {
    Result<std::vector<uint8_t>> r = h265::BuildHvcC(data + vps->offset, vps->size, data + sps->offset, sps->size, data + pps->offset, pps->size);
    if (r.ok()) {
      const std::vector<uint8_t>& h = r.value();
      if (h.size() != 23 + 15 + vps->size + sps->size + pps->size || h[0] != 1 || h[22] != 3) std::abort();
    }
  }
  // Every NAL unit lands in exactly one access unit, in stream order.
  size_t next = 0;
  for (const h264::AccessUnit& au : h265::GroupAccessUnits(data, nals)) {
    if (au.nals.empty() || au.codec != h264::Codec::kH265) std::abort();
    bool irap = false;
    for (const NalUnit& n : au.nals) {
      if (next >= nals.size() || n.offset != nals[next].offset || n.size != nals[next].size) std::abort();
      ++next;
      irap |= h265::IsIrap(n.type);
    }
    if (au.keyframe != irap) std::abort();
    std::vector<uint8_t> avcc = h264::ToAvcc(data, au);
    if (avcc.size() != h264::AvccSize(au) || avcc.size() > size + 4 * au.nals.size()) std::abort();
  }
  if (next != nals.size()) std::abort();
  return 0;
}
