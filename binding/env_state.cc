#include "env_state.h"

namespace camwire_binding {

EnvState& EnvState::Init(Napi::Env env) {
  EnvState* state = new EnvState();
  // Finalized when the environment is deleted, after the cleanup hook: the
  // constructors' references go with it (Node-API allows deleting them there).
  env.SetInstanceData<EnvState>(state);
  // Cleanup hooks run before the environment's finalizers (and JS objects'
  // destructors): the residents stop while their environment is still whole.
  env.AddCleanupHook(&EnvState::Cleanup, state);
  return *state;
}

EnvState& EnvState::Of(Napi::Env env) {
  EnvState* state = env.GetInstanceData<EnvState>();
  if (state == nullptr) throw Napi::Error::New(env, "camwire: the addon's environment state is missing");
  return *state;
}

Napi::Function EnvState::Constructor(const std::string& name, Napi::Function ctor) {
  constructors_[name] = Napi::Persistent(ctor);
  return ctor;
}

void EnvState::Cleanup(EnvState* self) { self->residents_->TeardownAll(); }

}  // namespace camwire_binding
