#include "kvs/ack_parser.h"

#include <cstring>

namespace camwire {
namespace kvs {

namespace {

constexpr int kMaxDepth = 4;
constexpr size_t kMaxString = 256;

Status Bad(const std::string& why) { return Status::Error("KVS_ACK_MALFORMED", why); }

// A tiny JSON reader for one ack object: strings, unsigned integers, true,
// false, null, nested objects and arrays (skipped unless they hold an ack).
class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}

  Status Object(Ack& ack, int depth) {
    if (depth > kMaxDepth) return Bad("ack nested too deeply");
    if (!Eat('{')) return Bad("ack is not a JSON object");
    Ws();
    if (Eat('}')) return Status::Ok();
    for (;;) {
      std::string key;
      Status s = String(key);
      if (!s.ok()) return s;
      Ws();
      if (!Eat(':')) return Bad("missing ':' after \"" + key + "\"");
      Ws();
      s = Value(key, ack, depth);
      if (!s.ok()) return s;
      Ws();
      if (Eat(',')) {
        Ws();
        continue;
      }
      if (Eat('}')) return Status::Ok();
      return Bad("expected ',' or '}' in ack");
    }
  }

  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool AtEnd() const { return p_ >= end_; }

 private:
  bool Eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  Status String(std::string& out) {
    if (!Eat('"')) return Bad("expected a string");
    while (p_ < end_ && *p_ != '"') {
      char c = *p_++;
      if (c == '\\') {
        if (p_ >= end_) return Bad("unterminated escape");
        char e = *p_++;
        if (e == 'u') {
          if (end_ - p_ < 4) return Bad("short \\u escape");
          p_ += 4;
          c = '?';  // acks carry ASCII; any \u escape is kept as a placeholder
        } else {
          c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
      }
      if (out.size() >= kMaxString) return Bad("string longer than 256 bytes in ack");
      out.push_back(c);
    }
    if (!Eat('"')) return Bad("unterminated string");
    return Status::Ok();
  }

  Status Number(uint64_t& v, bool& is_uint) {
    is_uint = true;
    v = 0;
    if (p_ < end_ && *p_ == '-') {
      is_uint = false;
      ++p_;
    }
    const char* start = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      const uint64_t d = static_cast<uint64_t>(*p_ - '0');
      if (v > (UINT64_MAX - d) / 10) return Bad("number too large in ack");
      v = v * 10 + d;
      ++p_;
    }
    if (p_ == start) return Bad("expected a value");
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) {
      is_uint = false;
      while (p_ < end_ && (std::strchr("0123456789.eE+-", *p_) != nullptr)) ++p_;
    }
    return Status::Ok();
  }

  Status Skip(int depth) {
    if (depth > kMaxDepth) return Bad("ack nested too deeply");
    if (p_ >= end_) return Bad("ack ends inside a value");
    if (*p_ == '"') {
      std::string ignored;
      return String(ignored);
    }
    if (*p_ == '{' || *p_ == '[') {
      const char close = *p_ == '{' ? '}' : ']';
      const bool object = *p_ == '{';
      ++p_;
      Ws();
      if (Eat(close)) return Status::Ok();
      for (;;) {
        if (object) {
          std::string k;
          Status s = String(k);
          if (!s.ok()) return s;
          Ws();
          if (!Eat(':')) return Bad("missing ':'");
          Ws();
        }
        Status s = Skip(depth + 1);
        if (!s.ok()) return s;
        Ws();
        if (Eat(',')) {
          Ws();
          continue;
        }
        if (Eat(close)) return Status::Ok();
        return Bad("malformed nested value in ack");
      }
    }
    for (const char* lit : {"true", "false", "null"}) {
      const size_t n = std::strlen(lit);
      if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, lit, n) == 0) {
        p_ += n;
        return Status::Ok();
      }
    }
    uint64_t v;
    bool u;
    return Number(v, u);
  }

  Status Value(const std::string& key, Ack& ack, int depth) {
    if (key == "EventType" || key == "AckEventType") {
      std::string t;
      Status s = String(t);
      if (!s.ok()) return s;
      ack.type = t == "BUFFERING"   ? AckType::kBuffering
                 : t == "RECEIVED"  ? AckType::kReceived
                 : t == "PERSISTED" ? AckType::kPersisted
                 : t == "ERROR"     ? AckType::kError
                 : t == "IDLE"      ? AckType::kIdle
                                    : AckType::kUnknown;
      return Status::Ok();
    }
    if (key == "FragmentTimecode" || key == "ErrorId") {
      uint64_t v;
      bool is_uint;
      Status s = Number(v, is_uint);
      if (!s.ok()) return s;
      if (!is_uint) return Bad(key + " must be an unsigned integer");
      if (key == "FragmentTimecode") {
        ack.fragment_timecode = v;
        ack.has_timecode = true;
      } else {
        ack.error_id = v;
      }
      return Status::Ok();
    }
    if (key == "FragmentNumber") {
      Status s = String(ack.fragment_number);
      if (!s.ok()) return s;
      if (ack.fragment_number.size() > 128) return Bad("FragmentNumber longer than 128 digits");
      return Status::Ok();
    }
    if (key == "ErrorCode") return String(ack.error_code);
    if (key == "Acknowledgement" && p_ < end_ && *p_ == '{') return Object(ack, depth + 1);  // the documented wrapped form
    return Skip(depth + 1);
  }

  const char* p_;
  const char* end_;
};

}  // namespace

const char* AckTypeName(AckType t) {
  switch (t) {
    case AckType::kBuffering:
      return "BUFFERING";
    case AckType::kReceived:
      return "RECEIVED";
    case AckType::kPersisted:
      return "PERSISTED";
    case AckType::kError:
      return "ERROR";
    case AckType::kIdle:
      return "IDLE";
    default:
      return "UNKNOWN";
  }
}

Result<Ack> AckParser::ParseObject(const char* text, size_t size) {
  Reader r(text, size);
  r.Ws();
  Ack ack;
  Status s = r.Object(ack, 0);
  if (!s.ok()) return s;
  r.Ws();
  if (!r.AtEnd()) return Bad("bytes after the ack object");
  if (ack.type == AckType::kUnknown) return Bad("ack without a known EventType");
  if (ack.type != AckType::kIdle && !ack.has_timecode) return Bad(std::string(AckTypeName(ack.type)) + " ack without FragmentTimecode");
  return ack;
}

Status AckParser::Feed(const uint8_t* data, size_t size, std::vector<Ack>& out) {
  if (!failed_.ok()) return failed_;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') {
        failed_ = Bad("unexpected byte between acks");
        return failed_;
      }
    }
    if (object_.size() >= kMaxAckBytes) {
      failed_ = Status::Error("KVS_ACK_TOO_LONG", "an ack longer than 1024 bytes");
      return failed_;
    }
    object_.push_back(c);
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (++depth_ > kMaxDepth + 1) {
        failed_ = Bad("ack nested too deeply");
        return failed_;
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        Result<Ack> ack = ParseObject(object_.data(), object_.size());
        object_.clear();
        if (!ack.ok()) {
          failed_ = ack.status();
          return failed_;
        }
        out.push_back(std::move(ack).value());
      }
    }
  }
  return Status::Ok();
}

}  // namespace kvs
}  // namespace camwire
