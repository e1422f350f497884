// CAMWIRE_DEBUG containing "kvs": one stderr line per connection decision
// (opened, ended and why, rotation, retry), for field debugging.
#pragma once

#include <cstdio>

namespace camwire {
namespace kvs {

bool TraceOn();

}  // namespace kvs
}  // namespace camwire

#define CAMWIRE_KVS_TRACE(...)                           \
  do {                                                   \
    if (::camwire::kvs::TraceOn()) {                     \
      std::fprintf(stderr, "camwire kvs: " __VA_ARGS__); \
      std::fputc('\n', stderr);                          \
    }                                                    \
  } while (0)
