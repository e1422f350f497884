#include "kvs/h265.h"

namespace camwire {
namespace h265 {

std::vector<h264::AccessUnit> GroupAccessUnits(const uint8_t* data, const std::vector<h264::NalUnit>& nals) {
  std::vector<h264::AccessUnit> out;
  h264::AccessUnit cur;
  cur.codec = h264::Codec::kH265;
  bool cur_has_slice = false;
  auto flush = [&]() {
    if (!cur.nals.empty()) out.push_back(cur);
    cur = h264::AccessUnit();
    cur.codec = h264::Codec::kH265;
    cur_has_slice = false;
  };
  for (const h264::NalUnit& n : nals) {
    const uint8_t t = n.type;
    const bool slice = IsVcl(t);
    if (t == kAud) {
      flush();
    } else if (!slice && cur_has_slice && (t == kVps || t == kSps || t == kPps || t == kPrefixSei || (t >= 41 && t <= 44) || (t >= 48 && t <= 55))) {
      flush();
    } else if (slice && cur_has_slice && n.size >= 3) {
      // first_slice_segment_in_pic_flag: the first bit after the two-byte header.
      if ((data[n.offset + 2] & 0x80) != 0) flush();
    }
    cur.nals.push_back(n);
    if (slice) cur_has_slice = true;
    if (IsIrap(t)) cur.keyframe = true;
  }
  flush();
  return out;
}

}  // namespace h265
}  // namespace camwire
