// libFuzzer target: arbitrary bytes as a PutMedia ack stream, fed in two
// chunks split at a fuzzer-chosen point.
#include <cstdlib>

#include "kvs/ack_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using camwire::kvs::Ack;
  using camwire::kvs::AckParser;
  if (size == 0) return 0;
  const size_t cut = data[0] % size;
  AckParser p;
  std::vector<Ack> out;
  if (p.Feed(data + 1, cut > 0 ? cut - 1 : 0, out).ok()) (void)p.Feed(data + cut, size - cut, out);
  for (const Ack& a : out) {
    if (a.fragment_number.size() > 128) std::abort();
  }
  if (out.size() > size) std::abort();
  return 0;
}
