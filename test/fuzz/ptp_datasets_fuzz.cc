// libFuzzer target: arbitrary bytes as PTP datasets. The first byte chooses
// the decoder (its value mod 6):
//   0 DeviceInfo, 1 StorageInfo, 2 ObjectInfo, 3 DevicePropDesc,
//   4 bare values (the next byte picks the datatype), 5 a PTP date string;
// the rest is its input. Beyond "no crash, no overread", every successful
// parse must survive Pack and re-parse unchanged, and Pack must then be
// stable byte for byte: what camwire accepts it can also send.
#include <cstdio>
#include <cstdlib>

#include "ptp/codes.h"
#include "ptp/datasets.h"

namespace {

using camwire::Result;
namespace ptp = camwire::ptp;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ptp_datasets_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

// Unpack -> Pack -> Unpack gives the same struct, and packing that again gives the same bytes.
template <typename T, typename PackFn>
void RoundTrip(const Result<T>& first, Result<T> (*unpack)(const uint8_t*, size_t), PackFn pack, const char* name) {
  if (!first.ok()) {
    Check(!first.status().code().empty() && !first.status().message().empty(), "error without code or message");
    return;
  }
  const std::vector<uint8_t> bytes = pack(first.value());
  const Result<T> second = unpack(bytes.data(), bytes.size());
  Check(second.ok(), name);
  Check(second.value() == first.value(), name);
  Check(pack(second.value()) == bytes, name);
}

std::vector<uint8_t> PackDesc(const ptp::DevicePropDesc& d) {
  Result<std::vector<uint8_t>> r = ptp::Pack(d);
  Check(r.ok(), "Pack(DevicePropDesc) refused a desc that UnpackDevicePropDesc accepted");
  return r.value();
}

void Values(const uint8_t* data, size_t size) {
  if (size == 0) return;
  static const uint16_t kTypes[] = {ptp::dt::kInt8,   ptp::dt::kUint8, ptp::dt::kInt16,  ptp::dt::kUint16, ptp::dt::kInt32,
                                    ptp::dt::kUint32, ptp::dt::kInt64, ptp::dt::kUint64, ptp::dt::kString, 0x4004 /* AUINT16: unsupported */};
  const uint16_t type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
  ptp::Reader r(data + 1, size - 1);
  while (true) {
    const size_t before = r.offset();
    Result<ptp::PropValue> v = ptp::UnpackValue(r, type);
    if (!v.ok()) {
      Check(r.offset() == before, "a failed UnpackValue moved the reader");
      Check(ptp::IsSupportedDatatype(type) == (v.status().code() == "PTP_BAD_DATASET"), "wrong error code for a value");
      return;
    }
    Check(r.offset() > before, "UnpackValue consumed nothing");
    ptp::Writer w;
    Check(ptp::PackValue(w, v.value()).ok(), "PackValue refused an unpacked value");
    ptp::Reader again(w.bytes());
    Result<ptp::PropValue> v2 = ptp::UnpackValue(again, type);
    Check(v2.ok() && v2.value() == v.value() && again.left() == 0, "value round trip");
  }
}

void Date(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  Result<std::time_t> t = ptp::ParsePtpDate(s);
  if (!t.ok()) return;
  // Whatever parses is a valid YYYYMMDDThhmmss prefix, which PtpDate reproduces exactly.
  Check(ptp::PtpDate(t.value()) == s.substr(0, 15), "PtpDate(ParsePtpDate(s)) != s[0:15]");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  switch (data[0] % 6) {
    case 0:
      RoundTrip(
          ptp::UnpackDeviceInfo(p, n), &ptp::UnpackDeviceInfo, [](const ptp::DeviceInfo& d) { return ptp::Pack(d); }, "DeviceInfo round trip");
      break;
    case 1:
      RoundTrip(
          ptp::UnpackStorageInfo(p, n), &ptp::UnpackStorageInfo, [](const ptp::StorageInfo& s) { return ptp::Pack(s); }, "StorageInfo round trip");
      break;
    case 2:
      RoundTrip(
          ptp::UnpackObjectInfo(p, n), &ptp::UnpackObjectInfo, [](const ptp::ObjectInfo& o) { return ptp::Pack(o); }, "ObjectInfo round trip");
      break;
    case 3:
      RoundTrip(ptp::UnpackDevicePropDesc(p, n), &ptp::UnpackDevicePropDesc, &PackDesc, "DevicePropDesc round trip");
      break;
    case 4:
      Values(p, n);
      break;
    default:
      Date(p, n);
      break;
  }
  return 0;
}
