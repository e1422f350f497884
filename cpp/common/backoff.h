// Exponential backoff with full jitter, the policy camwire uses everywhere it
// retries (ts/common/backoff.ts is the same): the delay before retry n is
// uniform in [0, min(cap, base * 2^n)], so a fleet that lost its endpoint at
// once comes back spread out instead of in waves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

namespace camwire {

class FullJitterBackoff {
 public:
  FullJitterBackoff(uint64_t base_ms, uint64_t cap_ms) : base_ms_(std::max<uint64_t>(base_ms, 1)), cap_ms_(std::max(cap_ms, base_ms_)) {}

  // The window of the next retry: min(cap, base * 2^attempts), without overflow.
  uint64_t Window() const {
    const uint32_t shift = std::min<uint32_t>(attempts_, 40);
    const uint64_t grown = base_ms_ > (cap_ms_ >> shift) ? cap_ms_ : base_ms_ << shift;
    return std::min(cap_ms_, grown);
  }

  // The delay before the next retry; the attempt counter moves on.
  template <typename Rng>
  uint64_t Next(Rng& rng) {
    std::uniform_int_distribution<uint64_t> d(0, Window());
    ++attempts_;
    return d(rng);
  }

  void Reset() { attempts_ = 0; }
  uint32_t attempts() const { return attempts_; }

 private:
  uint64_t base_ms_;
  uint64_t cap_ms_;
  uint32_t attempts_ = 0;
};

}  // namespace camwire
