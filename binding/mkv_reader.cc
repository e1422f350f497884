#include "mkv_reader.h"

#include "env_state.h"
#include "errors.h"
#include "options.h"

namespace camwire_binding {

Napi::Function MkvReaderWrap::Define(Napi::Env env) {
  return EnvState::Of(env).Constructor(
      "MkvReader", DefineClass(env, "MkvReader", {InstanceMethod("feed", &MkvReaderWrap::Feed), InstanceAccessor("bytes", &MkvReaderWrap::Bytes, nullptr)}));
}

MkvReaderWrap::MkvReaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MkvReaderWrap>(info) {}

Napi::Value MkvReaderWrap::Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(reader_.bytes())); }

Napi::Value MkvReaderWrap::Feed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "feed(buffer)", 1);
  Napi::Buffer<uint8_t> b = args.Buffer(0, "buffer");
  std::vector<camwire::mkv::ReaderEvent> events;
  camwire::Status s = reader_.Feed(b.Data(), b.Length(), events);
  if (!s.ok()) throw StatusError(env, s);
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    Napi::Object o = Napi::Object::New(env);
    switch (e.kind) {
      case camwire::mkv::ReaderEvent::kStreamHeader:
        o.Set("kind", "header");
        o.Set("width", e.width);
        o.Set("height", e.height);
        o.Set("codecId", e.codec_id);
        o.Set("codecPrivateSize", static_cast<double>(e.codec_private_size));
        o.Set("timecodeScaleNs", static_cast<double>(e.timecode_scale_ns));
        break;
      case camwire::mkv::ReaderEvent::kCluster:
        o.Set("kind", "cluster");
        o.Set("timecode", static_cast<double>(e.timecode));
        break;
      case camwire::mkv::ReaderEvent::kFrame:
        o.Set("kind", "frame");
        o.Set("timecode", static_cast<double>(e.timecode));
        o.Set("keyframe", e.keyframe);
        o.Set("track", static_cast<double>(e.track));
        o.Set("size", static_cast<double>(e.frame_size));
        break;
      case camwire::mkv::ReaderEvent::kTag:
        o.Set("kind", "tag");
        o.Set("name", e.tag_name);
        o.Set("value", e.tag_value);
        break;
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

}  // namespace camwire_binding
