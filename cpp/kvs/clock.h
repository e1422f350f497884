// Clocks and time formats shared by the producer's pieces.
#pragma once

#include <cstdint>
#include <string>

namespace camwire {
namespace kvs {

// Milliseconds on the steady clock (deadlines, ages).
uint64_t SteadyMs();
// Milliseconds since the epoch (signing dates, producer start timestamps).
uint64_t WallMs();

// Milliseconds from `then` to `now`, 0 when `then` is later: the loop reads
// the clock once per turn, and a connection opened or a fragment sent within
// that turn carries a later time (an unsigned now - then wrapped around and
// made a fresh connection look 584 million years old, so it was rotated at once).
inline uint64_t Elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

// The SigV4 x-amz-date form of a wall-clock time: 20240102T030405Z.
std::string AmzDate(uint64_t wall_ms);

// An HTTP Date header (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT")
// as epoch ms; false when it is not one.
bool ParseHttpDate(const std::string& value, uint64_t* wall_ms);

}  // namespace kvs
}  // namespace camwire
