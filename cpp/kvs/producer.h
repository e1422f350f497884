// The KVS producer: frames in, PutMedia out, on native threads.
//
// A Producer owns one stream's FragmentStore. Frames given to it (Enqueue*)
// are queued as pointers to memory the caller keeps alive until the producer
// hands them back through the Release callback, so the caller never waits on
// packaging or the network. One shared network loop (one thread, one curl
// multi handle for every producer in the process) packages queued frames into
// the store, runs GetDataEndpoint and one long chunked `POST /putMedia` per
// stream, reads the streaming JSON acks as they come, and reconnects with
// backoff when a connection drops or an ERROR ack arrives, re-sending from the
// first fragment not yet PERSISTED behind a fresh MKV header. Connections are
// rotated before 40 minutes and before the credentials expire; a connection
// whose fragments get no BUFFERING ack in time is declared stale and replaced.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "kvs/ack_parser.h"
#include "kvs/fragment_store.h"
#include "kvs/sigv4.h"
#include "kvs/video_track.h"

namespace camwire {
namespace kvs {

struct ProducerOptions {
  std::string stream_name;
  std::string region;
  // Control plane (GetDataEndpoint), e.g. https://kinesisvideo.us-east-1.amazonaws.com.
  std::string control_endpoint;
  // When set, GetDataEndpoint is skipped and PutMedia goes here.
  std::string data_endpoint;
  StoreOptions store;
  std::string ca_file;     // PEM bundle file for TLS verification
  std::string ca_pem;      // PEM roots in memory, when there is no ca_file (KvsStream: Node's)
                           // with neither: libcurl's built-in default (none in a prebuild)
  bool verify_tls = true;  // never false unless the caller asked explicitly
  std::string user_agent = "camwire";
  uint64_t connect_timeout_ms = 5000;
  uint64_t rotate_after_ms = 40ull * 60 * 1000;  // KVS ends connections at 45 min
  uint64_t stale_after_ms = 30000;               // no BUFFERING ack this long after a fragment start
  uint64_t persist_timeout_ms = 30000;           // how long close() waits for the last PERSISTED
  uint64_t backoff_base_ms = 100;
  uint64_t backoff_max_ms = 10000;
  uint32_t max_auth_failures = 3;          // consecutive 401/403 before giving up
  uint32_t max_fragment_errors = 3;        // ERROR acks for one fragment before it is dropped
  double annexb_fps = 30;                  // timestamps for putAnnexB streams
  uint64_t annexb_start_ms = 0;            // first putAnnexB timestamp (0: the wall clock)
  uint64_t metrics_interval_ms = 1000;     // 0: no metrics events
  CodecChoice codec = CodecChoice::kAuto;  // H.264 or H.265; kAuto: from the first parameter sets
  // An audio track (EnqueueAudio). AAC frames may carry ADTS headers (stripped;
  // the first gives the configuration unless audio_config is set); raw AAC
  // needs audio_config (AudioSpecificConfig) or a rate and channels (AAC-LC).
  enum class AudioCodec { kNone, kAac, kAlaw, kMulaw } audio = AudioCodec::kNone;
  uint32_t audio_rate = 0;
  uint32_t audio_channels = 0;
  std::vector<uint8_t> audio_config;
  std::vector<uint8_t> codec_private;  // avcC / hvcC; default: from the first parameter sets seen
  // (the store's directory, store.dir, keeps fragments on disk until PERSISTED)
};

struct Metrics {
  StoreStats store;
  uint64_t bytes_sent = 0;
  uint64_t connections = 0;
  uint64_t queued_frames = 0;
  uint64_t queued_bytes = 0;
  uint64_t acks_buffering = 0;
  uint64_t acks_received = 0;
  uint64_t acks_persisted = 0;
  uint64_t acks_error = 0;
  uint64_t last_persist_latency_ms = 0;  // frame enqueued -> its fragment PERSISTED
  uint64_t connection_age_ms = 0;
  int64_t clock_offset_ms = 0;  // the service's clock minus ours, once a skewed signature was refused (0 before)
  std::string data_endpoint;
};

struct ProducerEvent {
  enum Kind { kAck, kError, kDropped, kConnected, kMetrics, kClosed } kind = kAck;
  Ack ack;                  // kAck
  std::string code;         // kError: CamwireError code; kClosed: empty when all PERSISTED
  std::string message;      // kError / kClosed
  bool fatal = false;       // kError: the stream has stopped
  uint64_t timecode = 0;    // kDropped: first pts dropped; kError: fragment concerned (if any)
  uint64_t frames = 0;      // kDropped: how many frames
  uint64_t connection = 0;  // kConnected: connection number
  std::string endpoint;     // kConnected
  Metrics metrics;          // kMetrics and kClosed
};

struct Credentials {
  sigv4::Credentials keys;
  uint64_t expiration_ms = 0;  // epoch ms; 0: does not expire
};

class Loop;

class Producer : public std::enable_shared_from_this<Producer> {
 public:
  using EventSink = std::function<void(ProducerEvent)>;
  // Hands back the token of a frame the producer no longer reads.
  using ReleaseSink = std::function<void(void* token, size_t bytes)>;

  static Result<std::shared_ptr<Producer>> Create(const ProducerOptions& options, EventSink events, ReleaseSink release);
  ~Producer();

  // One access unit in Annex-B form (start codes), `size` bytes at `data`,
  // kept alive by the caller until Release(token). keyframe: 1 yes, 0 no,
  // -1 from the NAL types. pts must increase strictly.
  Status EnqueueFrame(const uint8_t* data, size_t size, uint64_t pts_ms, int keyframe, void* token);
  // A piece of a raw Annex-B stream; frames are found and timed by the producer.
  Status EnqueueAnnexB(const uint8_t* data, size_t size, void* token);
  // One audio frame at pts (epoch ms, the video's clock), kept alive until
  // Release(token). Interleaved with the video by time; needs options.audio.
  Status EnqueueAudio(const uint8_t* data, size_t size, uint64_t pts_ms, void* token);
  void SetCredentials(const Credentials& c);
  // Flushes everything, waits for PERSISTED (persist_timeout_ms), then emits kClosed.
  void Close();
  // Stops at once: no flush, queued frames released, then kClosed.
  void Abort();

  Metrics GetMetrics() const;
  uint64_t QueuedBytes() const;

 private:
  friend class Loop;
  struct Impl;
  Producer(const ProducerOptions& options, EventSink events, ReleaseSink release);
  std::unique_ptr<Impl> impl_;
};

// For tests and the curl/OpenSSL clash check: libcurl's version and TLS library.
std::string CurlVersion();
std::string CurlSslVersion();

}  // namespace kvs
}  // namespace camwire
