// libFuzzer target: arbitrary bytes as a PutMedia MKV body, fed in two chunks.
#include <cstdlib>

#include "kvs/mkv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t cut = data[0] % size;
  camwire::mkv::StreamReader r;
  std::vector<camwire::mkv::ReaderEvent> out;
  if (r.Feed(data + 1, cut > 0 ? cut - 1 : 0, out).ok()) (void)r.Feed(data + cut, size - cut, out);
  if (out.size() > size) std::abort();
  return 0;
}
