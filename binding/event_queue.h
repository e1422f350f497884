// The one way native threads hand events to JS. An EventQueue wraps one
// thread-safe function and owns what it carries: the events posted since the
// JS thread last ran, and the pinned Buffers native code has finished with
// (they are let go on the JS thread, where their references can be deleted).
// It wakes the JS thread once per batch, hands a listener's exception back to
// Node once, and lets go of the listener on Close(), after the last event, or
// when the environment goes away, whichever comes first.
#pragma once

#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace camwire_binding {

// A JS Buffer native code reads in place: the reference keeps it (and its
// memory) alive. Made and destroyed on the JS thread only.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(Napi::Buffer<uint8_t> b) : ref_(Napi::Persistent(b)), data_(b.Data()), size_(b.Length()) {}
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // The environment is gone and its references with it: destroying this
  // must not touch Node-API any more.
  void Abandon() { ref_.SuppressDestruct(); }

 private:
  Napi::Reference<Napi::Buffer<uint8_t>> ref_;
  const uint8_t* data_;
  size_t size_;
};

using Pin = std::unique_ptr<PinnedBuffer>;

// A listener threw: hand the exception back to Node as an uncaught one (as an
// EventEmitter's would). During environment teardown JS cannot run and even
// the throw fails; then there is nobody to tell.
inline void ReportListenerError(const Napi::Error& e) {
  try {
    e.ThrowAsJavaScriptException();
  } catch (...) {
  }
}

template <typename Event>
class EventQueue {
 public:
  // JS thread: calls the listener for events it takes from the front of
  // `pending`: all of them in one call, or just the first (one call per
  // wake-up). What it leaves there, or did not get to because the listener
  // threw, goes out on the next wake-up.
  using Deliver = std::function<void(Napi::Env, Napi::Function, std::deque<Event>& pending)>;

  // JS thread. `keep_alive`: the queue holds the event loop open from the
  // start (else only between Ref and Unref).
  static std::shared_ptr<EventQueue> Create(Napi::Env env, Napi::Function listener, const char* name, bool keep_alive, Deliver deliver) {
    std::shared_ptr<EventQueue> q(new EventQueue(std::move(deliver)));
    q->tsfn_ = Tsfn::New(env, listener, name, 0, 1, q.get(), [](Napi::Env e, void*, EventQueue* self) { self->Finalized(e); });
    // The thread-safe function refers to the queue (its context) until it is finalized.
    q->self_ = q;
    if (!keep_alive) q->tsfn_.Unref(env);
    return q;
  }

  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Any thread. `last`: nothing follows this event; later ones are dropped,
  // and the listener is let go once it has been delivered.
  void Post(Event e, bool last = false) {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_posted_ || closed_ || gone_) return;
    pending_.push_back(std::move(e));
    if (last) {
      last_posted_ = true;
      last_cv_.notify_all();
    }
    WakeLocked();
  }

  // Any thread: native code no longer reads this buffer.
  void Unpin(Pin p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_) {
      // After the environment: its references are gone already (the core
      // releases before its last event, so this is not expected).
      p->Abandon();
      return;
    }
    unpins_.push_back(std::move(p));
    WakeLocked();
  }

  // JS thread: whether the queue keeps the event loop alive.
  void Ref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!released_) tsfn_.Ref(env);
  }
  void Unref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!released_) tsfn_.Unref(env);
  }

  // JS thread: no more events. Those already posted are still delivered
  // (unless the environment is going away), then the listener is let go.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    last_cv_.notify_all();
    ReleaseLocked();
  }

  // Any thread: waits (up to `limit`) for the last event to be posted.
  bool WaitForLast(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return last_cv_.wait_for(lock, limit, [this] { return last_posted_ || closed_ || gone_; });
  }

 private:
  static void CallJs(Napi::Env env, Napi::Function fn, EventQueue* self, void*) {
    // No env: the thread-safe function is being emptied at teardown, possibly
    // after its finalizer let go of the queue.
    if (env == nullptr || self == nullptr) return;
    self->Drain(env, fn);
  }
  using Tsfn = Napi::TypedThreadSafeFunction<EventQueue, void, &EventQueue::CallJs>;

  explicit EventQueue(Deliver deliver) : deliver_(std::move(deliver)) {}

  // Caller holds mu_. One wake-up per batch.
  void WakeLocked() {
    if (scheduled_ || closed_ || gone_ || released_) return;
    if (tsfn_.NonBlockingCall() == napi_ok) scheduled_ = true;
  }

  // Caller holds mu_ (on the JS thread).
  void ReleaseLocked() {
    if (released_) return;
    released_ = true;
    tsfn_.Release();
  }

  // JS thread: unpin, then hand the batch to the listener.
  void Drain(Napi::Env env, Napi::Function fn) {
    std::deque<Event> batch;
    std::vector<Pin> unpins;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
      unpins.swap(unpins_);
      scheduled_ = false;
    }
    unpins.clear();
    if (fn.IsEmpty()) batch.clear();  // the environment is going away
    try {
      if (!batch.empty()) deliver_(env, fn, batch);
    } catch (const Napi::Error& e) {
      Settle(batch);
      ReportListenerError(e);
      return;
    }
    Settle(batch);
  }

  // JS thread, after a delivery: what it left goes out with the next wake-up,
  // ahead of anything posted meanwhile. Once the last event is out, the
  // listener is let go (until then the queue may keep the process alive).
  void Settle(std::deque<Event>& rest) {
    std::lock_guard<std::mutex> lock(mu_);
    while (!rest.empty()) {
      pending_.push_front(std::move(rest.back()));
      rest.pop_back();
    }
    if (!pending_.empty()) {
      WakeLocked();
    } else if (last_posted_) {
      ReleaseLocked();
    }
  }

  // JS thread, once: the thread-safe function is done (released and drained,
  // or its environment is being torn down). Pins still held are let go here.
  void Finalized(Napi::Env) {
    std::vector<Pin> unpins;
    std::deque<Event> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      gone_ = true;
      released_ = true;
      unpins.swap(unpins_);
      dropped.swap(pending_);
      last_cv_.notify_all();
    }
    unpins.clear();
    dropped.clear();
    std::shared_ptr<EventQueue> keep = std::move(self_);  // may be the last owner: nothing after this line
  }

  Deliver deliver_;
  Tsfn tsfn_;
  std::shared_ptr<EventQueue> self_;
  std::mutex mu_;
  std::condition_variable last_cv_;
  std::deque<Event> pending_;
  std::vector<Pin> unpins_;
  bool scheduled_ = false;
  bool last_posted_ = false;
  bool closed_ = false;
  bool gone_ = false;      // the thread-safe function was finalized
  bool released_ = false;  // the listener was let go (Release called)
};

}  // namespace camwire_binding
