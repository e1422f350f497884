#include "kvs/video_track.h"

#include "kvs/h265.h"

namespace camwire {
namespace kvs {

const char* CodecName(h264::Codec codec) { return codec == h264::Codec::kH265 ? "h265" : "h264"; }

bool DetectCodec(const uint8_t* data, size_t size, h264::Codec* codec) {
  // Split as H.264 only for the unit offsets; each header is then read both
  // ways. 64 KiB at a time: the answer is in the first units, not worth a pass over a whole file.
  h264::AnnexBScanner scan(data, size);
  std::vector<h264::NalUnit> nals;
  for (bool more = true; more;) {
    nals.clear();
    more = scan.Next(64 << 10, &nals);
    for (const h264::NalUnit& n : nals) {
      const uint8_t b0 = data[n.offset];
      if (b0 & 0x80) continue;  // forbidden_zero_bit set: neither
      if (n.size >= 2) {
        const uint8_t b1 = data[n.offset + 1];
        const uint8_t t = static_cast<uint8_t>((b0 >> 1) & 0x3f);
        // H.265 VPS/SPS/PPS/AUD of the base layer (nuh_layer_id 0, TemporalId + 1 >= 1).
        // As H.264 these headers are types 0, 2, 4 and 6 with nal_ref_idc 2: never a stream's parameter sets.
        if (t >= h265::kVps && t <= h265::kAud && (b0 & 1) == 0 && (b1 >> 3) == 0 && (b1 & 7) != 0) {
          *codec = h264::Codec::kH265;
          return true;
        }
      }
      const uint8_t t = b0 & 0x1f;
      if (t == h264::kSps || t == h264::kAud || t == h264::kIdrSlice) {
        *codec = h264::Codec::kH264;
        return true;
      }
    }
  }
  return false;
}

void ParameterSets::Collect(const uint8_t* data, const h264::AccessUnit& au) {
  const bool hevc = au.codec == h264::Codec::kH265;
  for (const h264::NalUnit& n : au.nals) {
    std::vector<uint8_t>* into = nullptr;
    if (hevc) {
      if (n.type == h265::kVps) into = &vps;
      if (n.type == h265::kSps) into = &sps;
      if (n.type == h265::kPps) into = &pps;
    } else {
      if (n.type == h264::kSps) into = &sps;
      if (n.type == h264::kPps) into = &pps;
    }
    if (into && into->empty()) into->assign(data + n.offset, data + n.offset + n.size);
  }
}

Result<mkv::VideoTrack> MakeVideoTrack(h264::Codec codec, const ParameterSets& ps, const std::vector<uint8_t>& codec_private) {
  mkv::VideoTrack t;
  if (codec == h264::Codec::kH265) {
    Result<h265::SpsInfo> info = h265::ParseSps(ps.sps.data(), ps.sps.size());
    if (!info.ok()) return info.status();
    t.codec_id = "V_MPEGH/ISO/HEVC";
    t.width = info.value().width;
    t.height = info.value().height;
    if (codec_private.empty()) {
      Result<std::vector<uint8_t>> hvcc = h265::BuildHvcC(ps.vps.data(), ps.vps.size(), ps.sps.data(), ps.sps.size(), ps.pps.data(), ps.pps.size());
      if (!hvcc.ok()) return hvcc.status();
      t.codec_private = std::move(hvcc).value();
    }
  } else {
    Result<h264::SpsInfo> info = h264::ParseSps(ps.sps.data(), ps.sps.size());
    if (!info.ok()) return info.status();
    t.width = info.value().width;
    t.height = info.value().height;
    if (codec_private.empty()) {
      Result<std::vector<uint8_t>> avcc = h264::BuildAvcC(ps.sps.data(), ps.sps.size(), ps.pps.data(), ps.pps.size());
      if (!avcc.ok()) return avcc.status();
      t.codec_private = std::move(avcc).value();
    }
  }
  if (!codec_private.empty()) t.codec_private = codec_private;
  return t;
}

}  // namespace kvs
}  // namespace camwire
