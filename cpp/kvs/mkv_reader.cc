#include "kvs/mkv_reader.h"

#include <cstdio>

#include "common/bytes.h"

namespace camwire {
namespace mkv {

namespace {

constexpr uint32_t kEbml = 0x1A45DFA3, kSegment = 0x18538067, kInfo = 0x1549A966, kTimecodeScale = 0x2AD7B1, kTracks = 0x1654AE6B, kTrackEntry = 0xAE,
                   kCodecId = 0x86, kCodecPrivate = 0x63A2, kVideo = 0xE0, kPixelWidth = 0xB0, kPixelHeight = 0xBA, kCluster = 0x1F43B675, kTimecode = 0xE7,
                   kSimpleBlock = 0xA3, kBlockGroup = 0xA0, kTags = 0x1254C367, kTag = 0x7373, kSimpleTag = 0x67C8, kTagName = 0x45A3, kTagString = 0x4487;

Status Bad(const std::string& why) { return Status::Error("KVS_MKV_MALFORMED", why); }

uint64_t ReadUInt(const uint8_t* p, size_t n) { return LoadBeN(p, n); }

// Walks the children of a master element held whole in memory.
template <typename F>
Status Children(const uint8_t* p, size_t n, F&& f) {
  size_t pos = 0;
  while (pos < n) {
    uint32_t id = 0;
    uint64_t size = 0;
    Result<size_t> h = ReadElementHeader(p + pos, n - pos, &id, &size);
    if (!h.ok()) return h.status();
    if (h.value() == 0) return Bad("child element header runs past its parent");
    if (size == UINT64_MAX || size > n - pos - h.value()) return Bad("child element runs past its parent");
    Status s = f(id, p + pos + h.value(), static_cast<size_t>(size));
    if (!s.ok()) return s;
    pos += h.value() + static_cast<size_t>(size);
  }
  return Status::Ok();
}

}  // namespace

Result<size_t> ReadElementHeader(const uint8_t* p, size_t n, uint32_t* id, uint64_t* size) {
  if (n == 0) return size_t{0};
  int id_len = p[0] & 0x80 ? 1 : p[0] & 0x40 ? 2 : p[0] & 0x20 ? 3 : p[0] & 0x10 ? 4 : 0;
  if (id_len == 0) return Bad("invalid element id");
  if (n < static_cast<size_t>(id_len) + 1) return size_t{0};
  *id = static_cast<uint32_t>(ReadUInt(p, id_len));
  const uint8_t first = p[id_len];
  int len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) ++len;
  if (len > 8) return Bad("invalid element size");
  if (n < static_cast<size_t>(id_len + len)) return size_t{0};
  uint64_t v = first & (0xff >> len);
  bool all_ones = v == (0xffu >> len);
  for (int i = 1; i < len; ++i) {
    v = (v << 8) | p[id_len + i];
    all_ones = all_ones && p[id_len + i] == 0xff;
  }
  *size = all_ones ? UINT64_MAX : v;
  return static_cast<size_t>(id_len + len);
}

Status StreamReader::ParseTracks(const uint8_t* p, size_t n, ReaderEvent& header) {
  return Children(p, n, [&](uint32_t id, const uint8_t* b, size_t s) -> Status {
    if (id != kTrackEntry) return Status::Ok();
    // The header describes the video track: an audio entry (TrackType 2) is skipped.
    bool audio = false;
    Status t = Children(b, s, [&](uint32_t cid, const uint8_t* cb, size_t cs) -> Status {
      if (cid == 0x83 && cs >= 1 && cs <= 8 && ReadUInt(cb, cs) == 2) audio = true;
      return Status::Ok();
    });
    if (!t.ok()) return t;
    if (audio) return Status::Ok();
    return Children(b, s, [&](uint32_t cid, const uint8_t* cb, size_t cs) -> Status {
      if (cid == kCodecId) header.codec_id.assign(reinterpret_cast<const char*>(cb), cs);
      if (cid == kCodecPrivate) header.codec_private_size = cs;
      if (cid == kVideo) {
        return Children(cb, cs, [&](uint32_t vid, const uint8_t* vb, size_t vs) -> Status {
          if (vs > 8) return Bad("pixel size wider than 8 bytes");
          if (vid == kPixelWidth) header.width = static_cast<uint32_t>(ReadUInt(vb, vs));
          if (vid == kPixelHeight) header.height = static_cast<uint32_t>(ReadUInt(vb, vs));
          return Status::Ok();
        });
      }
      return Status::Ok();
    });
  });
}

Status StreamReader::Element(uint32_t id, const uint8_t* body, size_t size, std::vector<ReaderEvent>& out) {
  switch (id) {
    case kEbml:
      if (have_segment_) return Bad("a second EBML header inside the stream");
      return Status::Ok();
    case kInfo:
      return Children(body, size, [&](uint32_t cid, const uint8_t* b, size_t s) -> Status {
        if (cid == kTimecodeScale) {
          if (s == 0 || s > 8) return Bad("TimecodeScale size");
          header_.timecode_scale_ns = ReadUInt(b, s);
        }
        return Status::Ok();
      });
    case kTracks: {
      Status s = ParseTracks(body, size, header_);
      if (!s.ok()) return s;
      if (header_.codec_id.empty()) return Bad("Tracks without a CodecID");
      have_header_ = true;
      out.push_back(header_);
      return Status::Ok();
    }
    case kTimecode: {
      if (!in_cluster_) return Status::Ok();
      if (size == 0 || size > 8) return Bad("cluster Timecode size");
      cluster_timecode_ = ReadUInt(body, size);
      ReaderEvent e{ReaderEvent::kCluster};
      e.timecode = cluster_timecode_;
      out.push_back(e);
      return Status::Ok();
    }
    case kSimpleBlock: {
      if (!in_cluster_ || !have_header_) return Bad("a SimpleBlock outside a cluster or before Tracks");
      if (size < 4) return Bad("SimpleBlock shorter than its header");
      if (!(body[0] & 0x80)) return Bad("only 1-byte track numbers are supported");
      ReaderEvent e{ReaderEvent::kFrame};
      e.track = body[0] & 0x7f;
      const int16_t rel = static_cast<int16_t>(LoadBe16(body + 1));
      if (rel < 0 && static_cast<uint64_t>(-rel) > cluster_timecode_) return Bad("frame timecode before zero");
      e.timecode = cluster_timecode_ + rel;
      e.keyframe = (body[3] & 0x80) != 0;
      e.frame_size = size - 4;
      out.push_back(e);
      return Status::Ok();
    }
    case kTags:
      return Children(body, size, [&](uint32_t tid, const uint8_t* tb, size_t ts) -> Status {
        if (tid != kTag) return Status::Ok();
        return Children(tb, ts, [&](uint32_t sid, const uint8_t* sb, size_t ss) -> Status {
          if (sid != kSimpleTag) return Status::Ok();
          ReaderEvent e{ReaderEvent::kTag};
          Status st = Children(sb, ss, [&](uint32_t nid, const uint8_t* nb, size_t ns) -> Status {
            if (nid == kTagName) e.tag_name.assign(reinterpret_cast<const char*>(nb), ns);
            if (nid == kTagString) e.tag_value.assign(reinterpret_cast<const char*>(nb), ns);
            return Status::Ok();
          });
          if (st.ok()) out.push_back(e);
          return st;
        });
      });
    default:
      return Status::Ok();  // Position, Void, SeekHead, Cues ...: skipped
  }
}

Status StreamReader::Feed(const uint8_t* data, size_t size, std::vector<ReaderEvent>& out) {
  if (!failed_.ok()) return failed_;
  buf_.insert(buf_.end(), data, data + size);
  size_t pos = 0;
  for (;;) {
    uint32_t id = 0;
    uint64_t esize = 0;
    Result<size_t> h = ReadElementHeader(buf_.data() + pos, buf_.size() - pos, &id, &esize);
    if (!h.ok()) {
      failed_ = h.status();
      return failed_;
    }
    if (h.value() == 0) break;  // need more bytes
    // Masters we descend into rather than buffer: Segment and Cluster (any size).
    if (id == kSegment || id == kCluster) {
      if (id == kSegment) {
        if (have_segment_) {
          failed_ = Bad("a second Segment: PutMedia takes one per connection");
          return failed_;
        }
        have_segment_ = true;
      }
      if (id == kCluster) {
        if (!have_header_) {
          failed_ = Bad("a Cluster before Tracks");
          return failed_;
        }
        in_cluster_ = true;
      }
      pos += h.value();
      continue;
    }
    if (esize == UINT64_MAX || esize > kMaxBufferedElement) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%X", id);
      failed_ = Bad(std::string("element 0x") + hex + " of unknown or excessive size");
      return failed_;
    }
    if (buf_.size() - pos - h.value() < esize) break;  // body not complete yet
    if (id == kTags || id == kEbml) in_cluster_ = id == kTags ? false : in_cluster_;
    Status s = Element(id, buf_.data() + pos + h.value(), static_cast<size_t>(esize), out);
    if (!s.ok()) {
      failed_ = s;
      return failed_;
    }
    pos += h.value() + static_cast<size_t>(esize);
  }
  consumed_ += pos;
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
  return Status::Ok();
}

}  // namespace mkv
}  // namespace camwire
