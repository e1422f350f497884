// What the addon keeps per Node-API environment (the main thread and each
// worker thread load it separately): the class constructors, and the objects
// that run native threads for JS, so that they stop when their environment is
// torn down (a worker exiting, or terminated, with a camera still serving or a
// stream still open). Set as the environment's instance data, with a cleanup
// hook; nothing of this lives in statics.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <set>
#include <string>

namespace camwire_binding {

// An object with native threads that call back into its environment.
class EnvResident {
 public:
  virtual ~EnvResident() = default;
  // JS thread, at environment teardown (JS can no longer run): stop every
  // native thread and let go of JS values; returns when no native code reads
  // JS memory of this environment any more.
  virtual void Teardown() = 0;
};

// The objects alive in one environment. Shared with them, so that one
// destroyed after the environment's state can still leave.
class Residents {
 public:
  void Add(EnvResident* r) {
    if (!torn_down_) live_.insert(r);
  }
  void Remove(EnvResident* r) { live_.erase(r); }
  bool torn_down() const { return torn_down_; }

  void TeardownAll() {
    torn_down_ = true;
    std::set<EnvResident*> live;
    live.swap(live_);
    for (EnvResident* r : live) r->Teardown();
  }

 private:
  std::set<EnvResident*> live_;
  bool torn_down_ = false;
};

class EnvState {
 public:
  // At module init: creates this environment's state and its cleanup hook.
  static EnvState& Init(Napi::Env env);
  // The state of the environment the call runs in.
  static EnvState& Of(Napi::Env env);

  // Keeps a class's constructor for this environment; returns it.
  Napi::Function Constructor(const std::string& name, Napi::Function ctor);
  const std::shared_ptr<Residents>& residents() const { return residents_; }

 private:
  EnvState() : residents_(std::make_shared<Residents>()) {}
  static void Cleanup(EnvState* self);

  std::map<std::string, Napi::FunctionReference> constructors_;
  std::shared_ptr<Residents> residents_;
};

// Registers an object with its environment for as long as it lives.
class Residency {
 public:
  Residency(Napi::Env env, EnvResident* r) : residents_(EnvState::Of(env).residents()), resident_(r) { residents_->Add(r); }
  ~Residency() { residents_->Remove(resident_); }
  Residency(const Residency&) = delete;
  Residency& operator=(const Residency&) = delete;
  // The environment was torn down already (the object must not start threads).
  bool torn_down() const { return residents_->torn_down(); }

 private:
  std::shared_ptr<Residents> residents_;
  EnvResident* resident_;
};

}  // namespace camwire_binding
