// packageAnnexB(buffer, options) -> Promise<{ mkv, bytes, frames, fragments, width, height, codec, ... }>
//   options.into: a Buffer the MKV is written into instead (then no mkv in the result: its first `bytes`)
// packageFile(input, output, options) -> the same without mkv: the MKV is in the output file
// Runs the core's Annex-B -> MKV packager on a worker thread. The input
// Buffer (and `into`) is pinned (referenced, not copied) until the work is
// done; the MKV bytes are handed to JS without a copy.
#include "kvs_package.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>

#include "errors.h"
#include "kvs/mkv.h"
#include "kvs/package_file.h"
#include "kvs/video_track.h"
#include "options.h"

namespace camwire_binding {
namespace {

class PackageWorker : public Napi::AsyncWorker {
 public:
  PackageWorker(Napi::Env env, Napi::Buffer<uint8_t> input, camwire::mkv::PackageOptions options, Napi::Value audio, Napi::Value into)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), options_(options), data_(input.Data()), size_(input.Length()) {
    input_ref_ = Napi::Persistent(input);
    if (audio.IsBuffer()) {
      Napi::Buffer<uint8_t> a = audio.As<Napi::Buffer<uint8_t>>();
      audio_ref_ = Napi::Persistent(a);
      options_.audio_data = a.Data();
      options_.audio_size = a.Length();
    }
    if (into.IsBuffer()) {
      // The MKV goes straight into the caller's buffer (memory it already has: no fresh pages to fault in).
      Napi::Buffer<uint8_t> b = into.As<Napi::Buffer<uint8_t>>();
      into_ref_ = Napi::Persistent(b);
      into_ = b.Data();
      into_size_ = b.Length();
      has_into_ = true;
      options_.sink = [this](const std::vector<camwire::mkv::PackageOptions::Span>& spans) {
        for (const auto& sp : spans) {
          if (into_used_ <= into_size_ && sp.size <= into_size_ - into_used_) std::memcpy(into_ + into_used_, sp.data, sp.size);
          into_used_ += sp.size;  // past the end: only counted, to say how much room it needs
        }
        return camwire::Status::Ok();
      };
    }
  }

  // File to file: nothing pinned, the MKV is in the output file.
  PackageWorker(Napi::Env env, std::string input, std::string output, std::string audio, camwire::mkv::PackageOptions options)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(options),
        data_(nullptr),
        size_(0),
        files_(true),
        input_path_(std::move(input)),
        output_path_(std::move(output)),
        audio_path_(std::move(audio)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    camwire::Result<camwire::mkv::PackageResult> r =
        files_ ? camwire::mkv::PackageFile(input_path_, output_path_, audio_path_, options_) : camwire::mkv::PackageAnnexB(data_, size_, options_);
    if (!r.ok()) {
      status_ = r.status();
      return;
    }
    if (has_into_ && into_used_ > into_size_) {
      status_ = camwire::Status::Error("KVS_BAD_OPTIONS", "options.into holds " + std::to_string(into_size_) + " bytes; this MKV needs " +
                                                              std::to_string(into_used_) + " (its first bytes were written, the rest was not)");
      return;
    }
    result_ = std::make_unique<camwire::mkv::PackageResult>(std::move(r).value());
  }

  void OnOK() override {
    Napi::Env env = Env();
    input_ref_.Reset();
    audio_ref_.Reset();
    into_ref_.Reset();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    if (!files_ && !has_into_) {
      auto* bytes = new std::vector<uint8_t>(std::move(result_->mkv));
      Napi::Buffer<uint8_t> mkv = Napi::Buffer<uint8_t>::New(
          env, bytes->data(), bytes->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, bytes);
      out.Set("mkv", mkv);
    }
    out.Set("bytes", Napi::Number::New(env, static_cast<double>(result_->bytes)));
    out.Set("frames", Napi::Number::New(env, static_cast<double>(result_->frames)));
    out.Set("fragments", Napi::Number::New(env, static_cast<double>(result_->fragments)));
    out.Set("width", Napi::Number::New(env, result_->width));
    out.Set("height", Napi::Number::New(env, result_->height));
    out.Set("codec", camwire::kvs::CodecName(result_->codec));
    out.Set("audioFrames", Napi::Number::New(env, static_cast<double>(result_->audio_frames)));
    out.Set("audioMs", Napi::Number::New(env, static_cast<double>(result_->audio_ms)));
    out.Set("audioRate", Napi::Number::New(env, result_->audio_rate));
    out.Set("audioChannels", Napi::Number::New(env, result_->audio_channels));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    input_ref_.Reset();
    audio_ref_.Reset();
    into_ref_.Reset();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Buffer<uint8_t>> input_ref_;
  Napi::Reference<Napi::Buffer<uint8_t>> audio_ref_;
  Napi::Reference<Napi::Buffer<uint8_t>> into_ref_;
  uint8_t* into_ = nullptr;
  size_t into_size_ = 0;
  size_t into_used_ = 0;
  bool has_into_ = false;
  camwire::mkv::PackageOptions options_;
  const uint8_t* data_;
  size_t size_;
  bool files_ = false;
  std::string input_path_;
  std::string output_path_;
  std::string audio_path_;
  camwire::Status status_;
  std::unique_ptr<camwire::mkv::PackageResult> result_;
};

// The options both calls take; `audio` is present (a Buffer or a path) when there is a track.
camwire::mkv::PackageOptions ParseOptions(Args& args, Napi::Object o, bool audio) {
  camwire::mkv::PackageOptions options;
  options.fps = RequiredNumber(args, o, "fps").DoubleValue();
  options.fragment_duration_ms = static_cast<uint64_t>(RequiredNumber(args, o, "fragmentDurationMs").Int64Value());
  options.absolute_timecodes = RequiredBool(args, o, "absoluteTimecodes");
  options.start_ms = static_cast<uint64_t>(RequiredNumber(args, o, "startMs").Int64Value());
  const std::string codec = Str(o, "codec", "auto");
  options.detect_codec = codec == "auto";
  options.codec = codec == "h265" ? camwire::h264::Codec::kH265 : camwire::h264::Codec::kH264;
  if (audio) {
    const std::string format = Str(o, "audioFormat", "adts");
    using A = camwire::mkv::PackageOptions::Audio;
    options.audio = format == "alaw" ? A::kAlaw : format == "mulaw" ? A::kMulaw : A::kAdts;
    options.audio_rate = U32(o, "audioRate", 8000);
    options.audio_channels = U32(o, "audioChannels", 1);
  }
  std::random_device rd;
  for (auto& b : options.segment_uid) b = static_cast<uint8_t>(rd());
  return options;
}

}  // namespace

Napi::Value PackageAnnexB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "packageAnnexB(buffer, options)", 2);
  Napi::Buffer<uint8_t> input = args.Buffer(0, "buffer");
  Napi::Object o = args.Object(1, "options");
  Napi::Value audio = o.Get("audio");
  if (!audio.IsUndefined() && !audio.IsBuffer()) args.Fail("options.audio must be a Buffer");
  Napi::Value into = o.Get("into");
  if (!into.IsUndefined() && !into.IsBuffer()) args.Fail("options.into must be a Buffer");
  if (into.IsBuffer()) {
    // Written while the input is read: the two may not share memory.
    Napi::Buffer<uint8_t> b = into.As<Napi::Buffer<uint8_t>>();
    const uintptr_t i0 = reinterpret_cast<uintptr_t>(input.Data()), i1 = i0 + input.Length();
    const uintptr_t o0 = reinterpret_cast<uintptr_t>(b.Data()), o1 = o0 + b.Length();
    if (input.Length() && b.Length() && i0 < o1 && o0 < i1) args.Fail("options.into shares memory with the input");
  }
  camwire::mkv::PackageOptions options = ParseOptions(args, o, audio.IsBuffer());
  auto* worker = new PackageWorker(env, input, options, audio, into);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value PackageFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(info, "packageFile(input, output, options)", 3);
  const std::string input = args.String(0, "input");
  const std::string output = args.String(1, "output");
  Napi::Object o = args.Object(2, "options");
  Napi::Value audio = o.Get("audio");
  if (!audio.IsUndefined() && !audio.IsString()) args.Fail("options.audio must be a path");
  camwire::mkv::PackageOptions options = ParseOptions(args, o, audio.IsString());
  auto* worker = new PackageWorker(env, input, output, audio.IsString() ? audio.As<Napi::String>().Utf8Value() : std::string(), options);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace camwire_binding
