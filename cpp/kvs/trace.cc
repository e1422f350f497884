#include "kvs/trace.h"

#include <cstdlib>
#include <cstring>

namespace camwire {
namespace kvs {

bool TraceOn() {
  static const bool on = [] {
    const char* v = std::getenv("CAMWIRE_DEBUG");
    return v != nullptr && std::strstr(v, "kvs") != nullptr;
  }();
  return on;
}

}  // namespace kvs
}  // namespace camwire
