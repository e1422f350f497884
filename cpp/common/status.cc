#include "common/status.h"

#include <cstdio>
#include <cstdlib>

namespace camwire {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return code_ + ": " + message_;
}

void AbortOnBadResultAccess(const Status& status) {
  std::fprintf(stderr, "camwire: value() on an error Result (%s)\n", status.ToString().c_str());
  std::abort();
}

}  // namespace camwire
