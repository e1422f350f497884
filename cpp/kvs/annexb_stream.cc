#include "kvs/annexb_stream.h"

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
  buf_.insert(buf_.end(), data, data + size);
  return Drain(false, sink);
}

Status AnnexBStream::Finish(const Sink& sink) {
  Status s = Drain(true, sink);
  buf_.clear();
  return s;
}

Status AnnexBStream::Drain(bool final, const Sink& sink) {
  if (detect_) {
    if (!kvs::DetectCodec(buf_.data(), buf_.size(), &codec_)) {
      if (!final && buf_.size() < (1u << 20)) return Status::Ok();
      codec_ = Codec::kH264;
    }
    detect_ = false;
  }
  std::vector<NalUnit> nals = SplitAnnexB(buf_.data(), buf_.size(), codec_);
  // The last NAL unit may still be arriving: it is not judged until it is
  // followed by another (or the stream ends).
  if (!final && !nals.empty()) nals.pop_back();
  const uint8_t sps_type = codec_ == Codec::kH265 ? 33 : kSps;
  const uint8_t pps_type = codec_ == Codec::kH265 ? 34 : kPps;
  auto keep = [&](std::vector<uint8_t>& into, const NalUnit& n) {
    into.assign(buf_.begin() + static_cast<std::ptrdiff_t>(n.offset), buf_.begin() + static_cast<std::ptrdiff_t>(n.offset + n.size));
  };
  for (const auto& n : nals) {
    if (codec_ == Codec::kH265 && n.type == 32 && vps_.empty()) keep(vps_, n);
    if (n.type == sps_type && sps_.empty()) keep(sps_, n);
    if (n.type == pps_type && pps_.empty()) keep(pps_, n);
  }
  std::vector<AccessUnit> aus = GroupAccessUnits(buf_.data(), nals, codec_);
  // The last unit may gain more slices: kept, unless the stream has ended.
  size_t keep_from = buf_.size();
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
    Status s = sink(buf_.data(), au);
    if (!s.ok()) return s;
  }
  if (final) return Status::Ok();
  // Step back over the start code (3 or 4 bytes) of the kept unit.
  if (keep_from != 0 && keep_from != buf_.size()) {
    keep_from = keep_from >= 3 ? keep_from - 3 : 0;
    if (keep_from > 0 && buf_[keep_from - 1] == 0) --keep_from;
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(keep_from));
  if (buf_.size() > max_unit_) {
    const size_t n = buf_.size();
    buf_.clear();
    return Status::Error("KVS_FRAME_TOO_LARGE",
                         "no access unit boundary in " + std::to_string(n) + " bytes of H.264: is this an Annex-B stream (start codes 00 00 01)?");
  }
  return Status::Ok();
}

}  // namespace h264
}  // namespace camwire
