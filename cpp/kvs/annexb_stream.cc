#include "kvs/annexb_stream.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "kvs/video_track.h"

namespace camwire {
namespace h264 {

bool StartsWithStartCode(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0 && data[1] == 0 && data[2] == 1) return true;
  return size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1;
}

AccessUnit WholeAccessUnit(const uint8_t* data, size_t size, Codec codec) {
  AccessUnit au;
  au.codec = codec;
  au.nals = SplitAnnexB(data, size, codec);
  for (const auto& n : au.nals) au.keyframe |= IsKeyframeNal(codec, n.type);
  return au;
}

bool HasSlice(const AccessUnit& au) {
  for (const auto& n : au.nals) {
    if (IsSlice(au.codec, n.type)) return true;
  }
  return false;
}

Status AnnexBStream::Feed(const uint8_t* data, size_t size, const Sink& sink) {
  size_t used = 0;
  // A unit is being collected from earlier pieces: add this piece to it a
  // step at a time until the unit kept back begins inside what was added;
  // from there on the piece is read in place.
  for (size_t step = first_step_; !buf_.empty() && used<size; step = step>(SIZE_MAX >> 1) ? step : step * 2) {
    const size_t n = std::min(step, size - used);
    buf_.insert(buf_.end(), data + used, data + used + n);
    size_t keep = 0;
    Status s = Drain(buf_.data(), buf_.size(), false, sink, &keep);
    used += n;
    if (!s.ok()) {
      buf_.insert(buf_.end(), data + used, data + size);  // as if the whole piece had been added
      return s;
    }
    const size_t added_from = buf_.size() - n;
    if (keep >= added_from) {
      used -= buf_.size() - keep;  // the kept unit starts in this piece: read it from there
      buf_.clear();
      break;
    }
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(keep));
    if (buf_.size() > max_unit_) return TooLarge(buf_.size());
  }
  if (used >= size) return Status::Ok();
  size_t keep = 0;
  Status s = Drain(data + used, size - used, false, sink, &keep);
  if (!s.ok()) {
    buf_.insert(buf_.end(), data + used, data + size);
    return s;
  }
  if (size - used - keep > max_unit_) return TooLarge(size - used - keep);
  buf_.insert(buf_.end(), data + used + keep, data + size);
  return Status::Ok();
}

Status AnnexBStream::Finish(const Sink& sink) {
  size_t keep = 0;
  Status s = Drain(buf_.data(), buf_.size(), true, sink, &keep);
  buf_.clear();
  return s;
}

Status AnnexBStream::TooLarge(size_t n) {
  buf_.clear();
  return Status::Error("KVS_FRAME_TOO_LARGE",
                       "no access unit boundary in " + std::to_string(n) + " bytes of H.264: is this an Annex-B stream (start codes 00 00 01)?");
}

Status AnnexBStream::Drain(const uint8_t* d, size_t size, bool final, const Sink& sink, size_t* keep) {
  *keep = 0;
  if (detect_) {
    if (!kvs::DetectCodec(d, size, &codec_)) {
      if (!final && size < (1u << 20)) return Status::Ok();  // everything kept
      codec_ = Codec::kH264;
    }
    detect_ = false;
  }
  std::vector<NalUnit> nals = SplitAnnexB(d, size, codec_);
  // The last NAL unit may still be arriving: it is not judged until it is
  // followed by another (or the stream ends).
  if (!final && !nals.empty()) nals.pop_back();
  const uint8_t sps_type = codec_ == Codec::kH265 ? 33 : kSps;
  const uint8_t pps_type = codec_ == Codec::kH265 ? 34 : kPps;
  auto remember = [&](std::vector<uint8_t>& into, const NalUnit& n) { into.assign(d + n.offset, d + n.offset + n.size); };
  for (const auto& n : nals) {
    if (codec_ == Codec::kH265 && n.type == 32 && vps_.empty()) remember(vps_, n);
    if (n.type == sps_type && sps_.empty()) remember(sps_, n);
    if (n.type == pps_type && pps_.empty()) remember(pps_, n);
  }
  std::vector<AccessUnit> aus = GroupAccessUnits(d, nals, codec_);
  // The last unit may gain more slices: kept, unless the stream has ended.
  size_t keep_from = size;
  if (!final && !aus.empty()) {
    keep_from = aus.back().nals.front().offset;
    aus.pop_back();
  } else if (!final && aus.empty() && !nals.empty()) {
    keep_from = nals.front().offset;
  } else if (!final) {
    // No complete unit yet: keep everything from the first start code on.
    keep_from = 0;
  }
  for (const AccessUnit& au : aus) {
    if (!HasSlice(au)) continue;  // parameter sets alone are not a frame
    Status s = sink(d, au);
    if (!s.ok()) return s;
  }
  if (final) {
    *keep = size;
    return Status::Ok();
  }
  // Step back over the start code (3 or 4 bytes) of the kept unit.
  if (keep_from != 0 && keep_from != size) {
    keep_from = keep_from >= 3 ? keep_from - 3 : 0;
    if (keep_from > 0 && d[keep_from - 1] == 0) --keep_from;
  }
  *keep = keep_from;
  return Status::Ok();
}

}  // namespace h264
}  // namespace camwire
