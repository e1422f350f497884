#include "ptp/datasets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <set>

#include <sys/resource.h>
#include <unistd.h>

#include "ptp/codes.h"

namespace camwire {
namespace ptp {
namespace {

using Bytes = std::vector<uint8_t>;

// Non-ASCII in the BMP (Latin-1, CJK) and outside it (a surrogate pair in UTF-16).
const std::string kUnicode = "C\xC3\xA4mera \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xB7";

size_t StrBytes(const std::string& s) {
  Writer w;
  w.Str(s);
  return w.bytes().size();
}

Bytes Utf16Str(const std::string& ascii) {  // PTP string of an ASCII text, built by hand
  Bytes b{static_cast<uint8_t>(ascii.size() + 1)};
  for (char c : ascii) {
    b.push_back(static_cast<uint8_t>(c));
    b.push_back(0);
  }
  b.push_back(0);
  b.push_back(0);
  return b;
}

void Append(Bytes* b, const Bytes& more) { b->insert(b->end(), more.begin(), more.end()); }

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAMWIRE_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CAMWIRE_TEST_ASAN)
#define CAMWIRE_TEST_ASAN 1
#endif

#ifdef CAMWIRE_TEST_ASAN
// ASan deadlocks reporting an out-of-memory under an address-space limit, but it
// can show us every allocation instead (declared here: GCC ships no header for it).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t), void (*free_hook)(const volatile void*));
std::atomic<size_t> g_alloc_limit{0};  // 0: not watching

void OnMalloc(const volatile void*, size_t n) {
  const size_t limit = g_alloc_limit.load();
  if (limit != 0 && n > limit) {
    // Stop before the caller fills gigabytes; a quick, loud failure.
    std::fprintf(stderr, "ptp_datasets_test: %zu-byte allocation while parsing hostile input (limit %zu)\n", n, limit);
    std::abort();
  }
}
void OnFree(const volatile void*) {}
#else
// Lets this process's address space grow by at most `bytes` from here on (Linux:
// the current size comes from /proc). Meant for a death-test child.
bool LimitAddressSpaceGrowth(size_t bytes) {
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages = 0;
  if (!(statm >> pages)) return false;
  const unsigned long long now = pages * static_cast<unsigned long long>(sysconf(_SC_PAGESIZE));
  rlimit lim{};
  if (getrlimit(RLIMIT_AS, &lim) != 0) return false;
  lim.rlim_cur = static_cast<rlim_t>(now + bytes);
  return setrlimit(RLIMIT_AS, &lim) == 0;
}
#endif

// Runs parse (which returns 0 when it got the error it expected) such that any
// allocation of more than `limit` bytes fails the test: an unpacker that trusted
// a hostile count would try to allocate gigabytes.
template <typename F>
void ExpectNoAllocationOver(size_t limit, F parse) {
#ifdef CAMWIRE_TEST_ASAN
  static const bool hooked = __sanitizer_install_malloc_and_free_hooks(&OnMalloc, &OnFree) != 0;
  ASSERT_TRUE(hooked);
  g_alloc_limit = limit;
  const int rc = parse();
  g_alloc_limit = 0;
  EXPECT_EQ(rc, 0);
#else
  // In a child whose address space may grow by `limit` at most: the allocation
  // fails there (std::bad_alloc, so the child aborts) instead of succeeding here.
  EXPECT_EXIT(
      {
        if (!LimitAddressSpaceGrowth(limit)) std::_Exit(3);
        std::_Exit(parse());
      },
      ::testing::ExitedWithCode(0), "");
#endif
}

// 0 when the result is the expected PTP_BAD_DATASET error.
template <typename T>
int ExitCodeFor(const Result<T>& r) {
  return r.ok() ? 1 : r.status().code() == "PTP_BAD_DATASET" ? 0 : 2;
}

// Feeds every proper prefix of full, each in its own exactly-sized heap buffer (so
// ASan sees any read past the end): only the lengths in ok_lengths may parse.
template <typename T>
void ExpectPrefixesFail(const Bytes& full, Result<T> (*unpack)(const uint8_t*, size_t), const std::set<size_t>& ok_lengths) {
  for (size_t len = 0; len < full.size(); ++len) {
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len + 1]);
    std::copy(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len), buf.get());
    Result<T> r = unpack(len ? buf.get() : nullptr, len);
    if (ok_lengths.count(len)) {
      EXPECT_TRUE(r.ok()) << "length " << len << ": " << r.status().ToString();
    } else {
      ASSERT_FALSE(r.ok()) << "length " << len << " of " << full.size();
      EXPECT_EQ(r.status().code(), "PTP_BAD_DATASET") << "length " << len;
    }
  }
  EXPECT_TRUE(unpack(full.data(), full.size()).ok());
}

DeviceInfo SampleDeviceInfo() {
  DeviceInfo d;
  d.operations = {op::kGetDeviceInfo,    op::kOpenSession,   op::kCloseSession, op::kGetStorageIDs,   op::kGetStorageInfo,
                  op::kGetObjectHandles, op::kGetObjectInfo, op::kGetObject,    op::kGetPartialObject};
  d.events = {ev::kObjectAdded, ev::kDevicePropChanged};
  d.properties = {prop::kBatteryLevel, prop::kDateTime, prop::kLastUploadStatus};
  d.capture_formats = {};
  d.playback_formats = {fmt::kAssociation, fmt::kExifJpeg};
  d.manufacturer = "camwire";
  d.model = "Simulated " + kUnicode;
  d.device_version = "1.2.3";
  d.serial_number = "0000-0001";
  return d;
}

ObjectInfo SampleObjectInfo() {
  ObjectInfo o;
  o.storage_id = kStorageId;
  o.object_format = fmt::kExifJpeg;
  o.compressed_size = 3 * 1024 * 1024 + 123;
  o.thumb_format = fmt::kExifJpeg;
  o.thumb_compressed_size = 5000;
  o.thumb_pix_width = 160;
  o.thumb_pix_height = 120;
  o.image_pix_width = 4000;
  o.image_pix_height = 3000;
  o.image_bit_depth = 24;
  o.parent_object = 1;
  o.sequence_number = 7;
  o.filename = "IMG_0001.JPG";
  o.capture_date = "20240229T120000";
  o.modification_date = "20240229T120001.5+0100";
  o.keywords = "cat " + kUnicode;
  return o;
}

DevicePropDesc StringDesc(const std::string& factory, const std::string& current) {
  DevicePropDesc d;
  d.code = 0xD001;
  d.datatype = dt::kString;
  d.get_set = 1;
  d.factory_default = PropValue::Str(factory);
  d.current = PropValue::Str(current);
  return d;
}

// ---- strings ------------------------------------------------------------------------------------------------------

TEST(PtpDatasets, StringWorldHasTheBytesGphoto2Sends) {
  // ptp.md 3.3: the SetDevicePropValue data of `--set-config d001=world`.
  const Bytes world = {0x06, 0x77, 0x00, 0x6f, 0x00, 0x72, 0x00, 0x6c, 0x00, 0x64, 0x00, 0x00, 0x00};
  Writer w;
  ASSERT_TRUE(PackValue(w, PropValue::Str("world")).ok());
  EXPECT_EQ(w.bytes(), world);

  Reader r(world);
  Result<PropValue> v = UnpackValue(r, dt::kString);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v.value().datatype, dt::kString);
  EXPECT_EQ(v.value().s, "world");
  EXPECT_EQ(r.left(), 0u);
}

TEST(PtpDatasets, UnterminatedMaximalStringIsCutToWhatPackCanWrite) {
  // 255 units and no NUL: more than Writer::Str can express, so it is cut to 254
  // and then survives Pack/Unpack unchanged.
  ObjectInfo o;
  Bytes b = Pack(o);
  b.resize(52);
  b.push_back(255);
  for (int i = 0; i < 255; ++i) {
    b.push_back('a');
    b.push_back(0);
  }
  Result<ObjectInfo> r = UnpackObjectInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().filename, std::string(254, 'a'));
  const Bytes again = Pack(r.value());
  Result<ObjectInfo> r2 = UnpackObjectInfo(again.data(), again.size());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2.value(), r.value());

  // The cut never leaves half of a surrogate pair: 127 pairs = 254 units, then one more pair.
  b.resize(52);
  b.push_back(255);
  for (int i = 0; i < 128; ++i) {
    for (uint8_t x : {0x3D, 0xD8, 0xF7, 0xDC}) b.push_back(x);  // U+1F4F7 as UTF-16LE
  }
  b.resize(53 + 255 * 2);  // the 128th pair loses its low half
  r = UnpackObjectInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok());
  std::string expect;
  for (int i = 0; i < 127; ++i) expect += "\xF0\x9F\x93\xB7";
  EXPECT_EQ(r.value().filename, expect);
}

// ---- DeviceInfo ---------------------------------------------------------------------------------------------------

TEST(PtpDatasets, DeviceInfoRoundTripsWithUnicode) {
  DeviceInfo d = SampleDeviceInfo();
  d.manufacturer = kUnicode;
  d.vendor_extension_desc = "microsoft.com: 1.0; " + kUnicode;
  d.standard_version = 110;
  d.vendor_extension_id = 6;
  d.vendor_extension_version = 100;
  d.functional_mode = 0x8001;
  const Bytes b = Pack(d);
  Result<DeviceInfo> r = UnpackDeviceInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), d);
  EXPECT_EQ(r.value().manufacturer, kUnicode);
  EXPECT_EQ(Pack(r.value()), b);
}

TEST(PtpDatasets, DeviceInfoExactBytes) {
  DeviceInfo d;
  d.operations = {0x1001, 0x1002};
  d.events = {0x4002};
  d.manufacturer = "ab";
  Bytes expect = {0x64, 0x00,                                      // StandardVersion 100
                  0x00, 0x00, 0x00, 0x00,                          // VendorExtensionID 0
                  0x00, 0x00,                                      // VendorExtensionVersion
                  0x00,                                            // VendorExtensionDesc ""
                  0x00, 0x00,                                      // FunctionalMode
                  0x02, 0x00, 0x00, 0x00, 0x01, 0x10, 0x02, 0x10,  // OperationsSupported
                  0x01, 0x00, 0x00, 0x00, 0x02, 0x40,              // EventsSupported
                  0x00, 0x00, 0x00, 0x00,                          // DevicePropertiesSupported
                  0x00, 0x00, 0x00, 0x00,                          // CaptureFormats
                  0x00, 0x00, 0x00, 0x00};                         // ImageFormats
  Append(&expect, Utf16Str("ab"));
  Append(&expect, {0x00, 0x00, 0x00});  // Model, DeviceVersion, SerialNumber: empty
  EXPECT_EQ(Pack(d), expect);
}

TEST(PtpDatasets, DeviceInfoMayEndAfterManufacturerButNotMidField) {
  const DeviceInfo d = SampleDeviceInfo();
  const Bytes b = Pack(d);
  const size_t serial = StrBytes(d.serial_number), version = StrBytes(d.device_version), model = StrBytes(d.model);
  const size_t after_manufacturer = b.size() - serial - version - model;
  ExpectPrefixesFail(b, &UnpackDeviceInfo, {after_manufacturer, b.size() - serial - version, b.size() - serial});

  Result<DeviceInfo> r = UnpackDeviceInfo(b.data(), after_manufacturer);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().manufacturer, "camwire");
  EXPECT_EQ(r.value().model, "");
  EXPECT_EQ(r.value().serial_number, "");

  // Cut inside Model: the error names the dataset and the field.
  r = UnpackDeviceInfo(b.data(), after_manufacturer + 3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("DeviceInfo.Model"), std::string::npos) << r.status().message();
}

TEST(PtpDatasets, DeviceInfoTrailingBytesAreIgnored) {
  const DeviceInfo d = SampleDeviceInfo();
  Bytes b = Pack(d);
  Append(&b, {0xDE, 0xAD, 0xBE, 0xEF});
  Result<DeviceInfo> r = UnpackDeviceInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), d);
}

TEST(PtpDatasets, HugeArrayCountIsAnErrorWithoutAllocating) {
  // StandardVersion .. FunctionalMode, then OperationsSupported count 0xFFFFFFFF and 4 bytes.
  const Bytes b = {0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x10, 0x02, 0x10};
  Result<DeviceInfo> r = UnpackDeviceInfo(b.data(), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "PTP_BAD_DATASET");
  EXPECT_NE(r.status().message().find("DeviceInfo.OperationsSupported"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("4294967295"), std::string::npos) << r.status().message();

  // Trusting the count would allocate 8 GiB; a count under the 65536 limit but
  // beyond the bytes present (0xFFFF: 128 KiB) is refused the same way.
  Bytes c = b;
  c[13] = c[14] = 0;  // count 0xFFFF
  ExpectNoAllocationOver(100u << 10, [&b, &c] {
    const int rc = ExitCodeFor(UnpackDeviceInfo(b.data(), b.size()));
    return rc != 0 ? rc : ExitCodeFor(UnpackDeviceInfo(c.data(), c.size()));
  });
}

// ---- StorageInfo --------------------------------------------------------------------------------------------------

TEST(PtpDatasets, StorageInfoRoundTripsAndHasTheDocumentedOffsets) {
  StorageInfo s;
  s.max_capacity = 64ull << 30;
  s.free_space_bytes = 0x0123456789ABCDEFull;
  s.free_space_images = 1234;
  s.access_capability = 2;
  s.description = "SD " + kUnicode;
  s.volume_label = "CAMWIRE";
  const Bytes b = Pack(s);
  EXPECT_EQ(b[0], 4);      // StorageType RemovableRAM
  EXPECT_EQ(b[2], 2);      // FilesystemType GenericHierarchical
  EXPECT_EQ(b[4], 2);      // AccessCapability
  EXPECT_EQ(b[14], 0xEF);  // FreeSpaceInBytes, little-endian
  EXPECT_EQ(b[21], 0x01);
  EXPECT_EQ(b[22], 1234 & 0xFF);                  // FreeSpaceInImages
  EXPECT_EQ(b[26], StrBytes(s.description) / 2);  // StorageDescription's count (units incl. NUL)
  Result<StorageInfo> r = UnpackStorageInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), s);
  EXPECT_EQ(Pack(r.value()), b);
}

TEST(PtpDatasets, StorageInfoVolumeLabelMayBeMissing) {
  StorageInfo s;
  s.description = "card";
  s.volume_label = "LABEL";
  const Bytes b = Pack(s);
  const size_t without_label = b.size() - StrBytes(s.volume_label);
  ExpectPrefixesFail(b, &UnpackStorageInfo, {without_label});
  Result<StorageInfo> r = UnpackStorageInfo(b.data(), without_label);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().description, "card");
  EXPECT_EQ(r.value().volume_label, "");
  EXPECT_EQ(r.value().free_space_images, 0xFFFFFFFFu);
}

// ---- ObjectInfo ---------------------------------------------------------------------------------------------------

TEST(PtpDatasets, ObjectInfoFilenameStartsAtOffset52) {
  const ObjectInfo o = SampleObjectInfo();
  const Bytes b = Pack(o);
  ASSERT_GT(b.size(), 53u);
  EXPECT_EQ(b[8] | b[9] << 8 | b[10] << 16 | b[11] << 24, 3 * 1024 * 1024 + 123);  // ObjectCompressedSize
  EXPECT_EQ(b[38], 1);                                                             // ParentObject
  EXPECT_EQ(b[48], 7);                                                             // SequenceNumber
  EXPECT_EQ(b[52], 13);                                                            // "IMG_0001.JPG" + NUL
  EXPECT_EQ(b[53], 'I');
  EXPECT_EQ(b[54], 0);
  Result<ObjectInfo> r = UnpackObjectInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), o);
  EXPECT_EQ(r.value().keywords, "cat " + kUnicode);
}

TEST(PtpDatasets, ObjectInfoAsGphoto2SendsIt) {
  // ptp.md 3.3: `--upload-file` sends a 72-byte ObjectInfo: StorageID 0, format
  // 0x3801, the size, the file name and three empty strings.
  Bytes b(52, 0);
  b[4] = 0x01;
  b[5] = 0x38;
  b[8] = 0x88;  // 5000 bytes
  b[9] = 0x13;
  b[38] = 1;  // ParentObject: the DCIM folder
  Append(&b, Utf16Str("pic.jpg"));
  Append(&b, {0, 0, 0});
  ASSERT_EQ(b.size(), 72u);
  Result<ObjectInfo> r = UnpackObjectInfo(b.data(), b.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().storage_id, 0u);
  EXPECT_EQ(r.value().object_format, fmt::kExifJpeg);
  EXPECT_EQ(r.value().compressed_size, 5000u);
  EXPECT_EQ(r.value().parent_object, 1u);
  EXPECT_EQ(r.value().filename, "pic.jpg");
  EXPECT_EQ(r.value().capture_date, "");
  EXPECT_EQ(Pack(r.value()), b);
}

TEST(PtpDatasets, ObjectInfoTruncations) {
  const ObjectInfo o = SampleObjectInfo();
  const Bytes b = Pack(o);
  const size_t kw = StrBytes(o.keywords), mod = StrBytes(o.modification_date), cap = StrBytes(o.capture_date);
  ExpectPrefixesFail(b, &UnpackObjectInfo, {b.size() - kw - mod - cap, b.size() - kw - mod, b.size() - kw});
  Result<ObjectInfo> r = UnpackObjectInfo(b.data(), 52);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ObjectInfo.Filename"), std::string::npos) << r.status().message();
  r = UnpackObjectInfo(b.data(), 30);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ObjectInfo.ImagePixHeight"), std::string::npos) << r.status().message();
}

TEST(PtpDatasets, UnicodeFilenamesSurvive) {
  ObjectInfo o = SampleObjectInfo();
  for (const std::string& name :
       {kUnicode + ".jpg", std::string("\xC3\xBC\xC3\xB1\xC3\xAF.JPG"), std::string("\xE5\x86\x99\xE7\x9C\x9F.jpeg"), std::string("\xF0\x9F\x98\x80")}) {
    o.filename = name;
    const Bytes b = Pack(o);
    Result<ObjectInfo> r = UnpackObjectInfo(b.data(), b.size());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().filename, name);
  }
}

// ---- DevicePropDesc -----------------------------------------------------------------------------------------------

TEST(PtpDatasets, StringDevicePropDescMatchesTheGphoto2Example) {
  // ptp.md 4.10: 01 d0 | ff ff | 01 | 06 "hello\0" | 06 "hello\0" | 00
  Bytes expect = {0x01, 0xD0, 0xFF, 0xFF, 0x01};
  Append(&expect, Utf16Str("hello"));
  Append(&expect, Utf16Str("hello"));
  expect.push_back(0x00);
  Result<Bytes> b = Pack(StringDesc("hello", "hello"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b.value(), expect);

  Result<DevicePropDesc> r = UnpackDevicePropDesc(expect.data(), expect.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().code, 0xD001);
  EXPECT_EQ(r.value().datatype, dt::kString);
  EXPECT_EQ(r.value().get_set, 1);
  EXPECT_EQ(r.value().current.s, "hello");
  EXPECT_EQ(r.value().form_flag, form::kNone);
  EXPECT_EQ(r.value(), StringDesc("hello", "hello"));
}

TEST(PtpDatasets, StringDevicePropDescMayEndAfterFactoryOrCurrentValue) {
  const DevicePropDesc d = StringDesc("factory", "now " + kUnicode);
  const Bytes b = Pack(d).value();
  const size_t after_factory = 5 + StrBytes("factory");
  ExpectPrefixesFail(b, &UnpackDevicePropDesc, {after_factory, b.size() - 1});

  Result<DevicePropDesc> r = UnpackDevicePropDesc(b.data(), after_factory);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().factory_default.s, "factory");
  EXPECT_EQ(r.value().current, PropValue::Str(""));
  r = UnpackDevicePropDesc(b.data(), b.size() - 1);  // no FormFlag
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), d);
}

TEST(PtpDatasets, IntegerDevicePropDescNeedsItsFormFlag) {
  DevicePropDesc d;
  d.code = prop::kBatteryLevel;
  d.datatype = dt::kUint8;
  d.get_set = 0;
  d.factory_default = PropValue::Uint(dt::kUint8, 100);
  d.current = PropValue::Uint(dt::kUint8, 80);
  d.form_flag = form::kRange;
  d.range_min = PropValue::Uint(dt::kUint8, 0);
  d.range_max = PropValue::Uint(dt::kUint8, 100);
  d.range_step = PropValue::Uint(dt::kUint8, 1);
  const Bytes b = Pack(d).value();
  // "Battery Level(0x5001):(read only) (type=0x2) Range [0 - 100, step 1] value: 80%" (ptp.md 3.3)
  EXPECT_EQ(b, (Bytes{0x01, 0x50, 0x02, 0x00, 0x00, 100, 80, 0x01, 0, 100, 1}));
  ExpectPrefixesFail(b, &UnpackDevicePropDesc, {});
  Result<DevicePropDesc> r = UnpackDevicePropDesc(b.data(), 7);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("DevicePropDesc.FormFlag"), std::string::npos) << r.status().message();
  r = UnpackDevicePropDesc(b.data(), b.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), d);
}

TEST(PtpDatasets, EnumDevicePropDescsOfEveryIntegerTypeRoundTrip) {
  struct T {
    uint16_t type;
    bool is_signed;
    std::vector<int64_t> s;
    std::vector<uint64_t> u;
  };
  const T types[] = {
      {dt::kInt8, true, {-128, -1, 0, 127}, {}},
      {dt::kUint8, false, {}, {0, 1, 255}},
      {dt::kInt16, true, {-32768, -300, 32767}, {}},
      {dt::kUint16, false, {}, {0, 0x8000, 0xFFFF}},
      {dt::kInt32, true, {INT32_MIN, -70000, INT32_MAX}, {}},
      {dt::kUint32, false, {}, {0, 0xFFFFFFFFu}},
      {dt::kInt64, true, {INT64_MIN, -1, INT64_MAX}, {}},
      {dt::kUint64, false, {}, {0, UINT64_MAX}},
  };
  for (const T& t : types) {
    DevicePropDesc d;
    d.code = 0x5010;
    d.datatype = t.type;
    d.get_set = 1;
    d.form_flag = form::kEnum;
    if (t.is_signed) {
      for (int64_t v : t.s) d.enum_values.push_back(PropValue::Int(t.type, v));
    } else {
      for (uint64_t v : t.u) d.enum_values.push_back(PropValue::Uint(t.type, v));
    }
    d.factory_default = d.enum_values.front();
    d.current = d.enum_values.back();
    Result<Bytes> b = Pack(d);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    Result<DevicePropDesc> r = UnpackDevicePropDesc(b.value().data(), b.value().size());
    ASSERT_TRUE(r.ok()) << "type " << t.type << ": " << r.status().ToString();
    EXPECT_EQ(r.value(), d) << "type " << t.type;
    ExpectPrefixesFail(b.value(), &UnpackDevicePropDesc, {});
  }
}

TEST(PtpDatasets, StringEnumAndUnknownFormFlagRoundTrip) {
  DevicePropDesc d = StringDesc("", "b");
  d.form_flag = form::kEnum;
  d.enum_values = {PropValue::Str(""), PropValue::Str("b"), PropValue::Str(kUnicode)};
  Result<Bytes> b = Pack(d);
  ASSERT_TRUE(b.ok());
  Result<DevicePropDesc> r = UnpackDevicePropDesc(b.value().data(), b.value().size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), d);

  // FormFlag 7 is not in PTP: kept, with no form data, as libgphoto2 does.
  DevicePropDesc odd = StringDesc("x", "y");
  odd.form_flag = 7;
  b = Pack(odd);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value().back(), 7);
  r = UnpackDevicePropDesc(b.value().data(), b.value().size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), odd);
}

TEST(PtpDatasets, EnumCountBeyondTheDataIsAnErrorWithoutAllocating) {
  // UINT32 desc with NumberOfValues 0xFFFF and only 8 bytes of values.
  const Bytes b = {0x01, 0xD0, 0x06, 0x00, 0x01, 1, 0, 0, 0, 2, 0, 0, 0, 0x02, 0xFF, 0xFF, 3, 0, 0, 0, 4, 0, 0, 0};
  Result<DevicePropDesc> r = UnpackDevicePropDesc(b.data(), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), "PTP_BAD_DATASET");
  EXPECT_NE(r.status().message().find("DevicePropDesc.NumberOfValues"), std::string::npos) << r.status().message();
  // 65535 PropValues would be a few MiB.
  ExpectNoAllocationOver(1u << 20, [&b] { return ExitCodeFor(UnpackDevicePropDesc(b.data(), b.size())); });
}

TEST(PtpDatasets, UnsupportedDatatypesAreClearErrors) {
  for (uint16_t type : {uint16_t{0x0000}, uint16_t{0x0009}, uint16_t{0x000A}, uint16_t{0x4004}, uint16_t{0x4006}, uint16_t{0x1234}}) {
    const Bytes b = {0x01,
                     0xD0,
                     static_cast<uint8_t>(type),
                     static_cast<uint8_t>(type >> 8),
                     0x00,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0};
    Result<DevicePropDesc> r = UnpackDevicePropDesc(b.data(), b.size());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), "PTP_UNSUPPORTED_DATATYPE") << r.status().ToString();
    EXPECT_NE(r.status().message().find("0xD001"), std::string::npos) << r.status().message();

    Writer w;
    PropValue v;
    v.datatype = type;
    EXPECT_EQ(PackValue(w, v).code(), "PTP_UNSUPPORTED_DATATYPE");
    EXPECT_TRUE(w.bytes().empty());
    Reader rd(b);
    EXPECT_EQ(UnpackValue(rd, type).status().code(), "PTP_UNSUPPORTED_DATATYPE");
    DevicePropDesc d;
    d.datatype = type;
    d.factory_default = d.current = v;
    EXPECT_EQ(Pack(d).status().code(), "PTP_UNSUPPORTED_DATATYPE");
  }
}

TEST(PtpDatasets, PackRefusesValuesOfAnotherDatatype) {
  DevicePropDesc d = StringDesc("a", "b");
  d.current = PropValue::Uint(dt::kUint8, 1);
  EXPECT_EQ(Pack(d).status().code(), "PTP_BAD_VALUE");
  d = StringDesc("a", "b");
  d.form_flag = form::kRange;  // range members left as default (datatype 0)
  EXPECT_EQ(Pack(d).status().code(), "PTP_BAD_VALUE");
  d.form_flag = form::kEnum;
  d.enum_values.assign(70000, PropValue::Str("x"));
  EXPECT_EQ(Pack(d).status().code(), "PTP_BAD_VALUE");
}

// ---- bare values --------------------------------------------------------------------------------------------------

TEST(PtpDatasets, ValuesSignExtendAndTruncationLeavesTheReaderAlone) {
  const Bytes b = {0xFF, 0xFE, 0xFF, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80};
  Reader r(b);
  EXPECT_EQ(UnpackValue(r, dt::kInt8).value().i, -1);
  EXPECT_EQ(UnpackValue(r, dt::kInt16).value().i, -2);
  EXPECT_EQ(UnpackValue(r, dt::kInt32).value().i, INT32_MIN);
  EXPECT_EQ(UnpackValue(r, dt::kInt64).value().i, INT64_MIN);
  EXPECT_EQ(r.left(), 0u);

  Reader r2(b.data(), 3);
  ASSERT_TRUE(UnpackValue(r2, dt::kUint16).ok());
  Result<PropValue> bad = UnpackValue(r2, dt::kUint32);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), "PTP_BAD_DATASET");
  EXPECT_EQ(r2.offset(), 2u);
  EXPECT_TRUE(UnpackValue(r2, dt::kUint8).ok());

  Writer w;
  ASSERT_TRUE(PackValue(w, PropValue::Int(dt::kInt16, -2)).ok());
  ASSERT_TRUE(PackValue(w, PropValue::Uint(dt::kUint64, 0x0102030405060708ull)).ok());
  EXPECT_EQ(w.bytes(), (Bytes{0xFE, 0xFF, 8, 7, 6, 5, 4, 3, 2, 1}));
}

// ---- dates --------------------------------------------------------------------------------------------------------

TEST(PtpDatasets, PtpDateFormatsUtc) {
  EXPECT_EQ(PtpDate(0), "19700101T000000");
  EXPECT_EQ(PtpDate(1700000000), "20231114T221320");
  EXPECT_EQ(PtpDate(951782400), "20000229T000000");  // a leap day in a year divisible by 400
  EXPECT_EQ(PtpDate(-1), "19691231T235959");
  EXPECT_EQ(PtpDate(4102444800), "21000101T000000");
  // Agrees with the C library across 1900..2100, including negative times.
  std::mt19937_64 rng(15740);
  std::uniform_int_distribution<int64_t> dist(-2208988800LL, 4102444799LL);
  for (int i = 0; i < 20000; ++i) {
    const std::time_t t = static_cast<std::time_t>(dist(rng));
    std::tm tm{};
    ASSERT_NE(gmtime_r(&t, &tm), nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
    ASSERT_EQ(PtpDate(t), buf) << t;
    Result<std::time_t> back = ParsePtpDate(buf);
    ASSERT_TRUE(back.ok()) << buf;
    ASSERT_EQ(back.value(), t) << buf;
  }
}

TEST(PtpDatasets, ParsePtpDateAcceptsSuffixesAndRejectsNonsense) {
  EXPECT_EQ(ParsePtpDate("20231114T221320").value(), 1700000000);
  EXPECT_EQ(ParsePtpDate("20231114T221320.5").value(), 1700000000);
  EXPECT_EQ(ParsePtpDate("20231114T221320+0100").value(), 1700000000);  // zone ignored, as libgphoto2 does
  EXPECT_EQ(ParsePtpDate("20240229T000000").value(), 1709164800);       // leap day
  for (const char* bad : {"", "20231114T22132", "20231114 221320", "2023111XT221320", "20231314T221320", "20230229T000000", "21000229T000000",
                          "20230431T000000", "20231100T000000", "20231114T241320", "20231114T226020", "20231114T221360", "-0231114T221320"}) {
    Result<std::time_t> r = ParsePtpDate(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), "PTP_BAD_DATASET") << bad;
  }
  EXPECT_EQ(PtpDate(ParsePtpDate("00000101T000000").value()), "00000101T000000");
  EXPECT_EQ(PtpDate(ParsePtpDate("99991231T235959").value()), "99991231T235959");
  // Out of the 4-digit range: clamped, not garbage.
  EXPECT_EQ(PtpDate(ParsePtpDate("99991231T235959").value() + 1000000), "99991231T235959");
  EXPECT_EQ(PtpDate(ParsePtpDate("00000101T000000").value() - 1000000), "00000101T000000");
}

// ---- hostile bytes ------------------------------------------------------------------------------------------------

TEST(PtpDatasets, RandomMutationsNeverCrashAndReparseStably) {
  std::vector<Bytes> seeds = {Pack(SampleDeviceInfo()), Pack(SampleObjectInfo()), Pack(StorageInfo()), Pack(StringDesc("a", kUnicode)).value()};
  std::mt19937 rng(2024);
  for (int i = 0; i < 20000; ++i) {
    Bytes b = seeds[static_cast<size_t>(i) % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips && !b.empty(); ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    std::unique_ptr<uint8_t[]> buf(new uint8_t[b.size() + 1]);
    std::copy(b.begin(), b.end(), buf.get());
    Result<DeviceInfo> di = UnpackDeviceInfo(buf.get(), b.size());
    if (di.ok()) {
      const Bytes p = Pack(di.value());
      ASSERT_EQ(UnpackDeviceInfo(p.data(), p.size()).value(), di.value());
    }
    Result<StorageInfo> si = UnpackStorageInfo(buf.get(), b.size());
    if (si.ok()) {
      const Bytes p = Pack(si.value());
      ASSERT_EQ(UnpackStorageInfo(p.data(), p.size()).value(), si.value());
    }
    Result<ObjectInfo> oi = UnpackObjectInfo(buf.get(), b.size());
    if (oi.ok()) {
      const Bytes p = Pack(oi.value());
      ASSERT_EQ(UnpackObjectInfo(p.data(), p.size()).value(), oi.value());
    }
    Result<DevicePropDesc> pd = UnpackDevicePropDesc(buf.get(), b.size());
    if (pd.ok()) {
      const Result<Bytes> p = Pack(pd.value());
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ASSERT_EQ(UnpackDevicePropDesc(p.value().data(), p.value().size()).value(), pd.value());
    }
  }
}

}  // namespace
}  // namespace ptp
}  // namespace camwire
