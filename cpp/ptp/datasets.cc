#include "ptp/datasets.h"

#include <cstdio>
#include <utility>

#include "ptp/codes.h"

namespace camwire {
namespace ptp {

namespace {

// Writer::Str cannot express more than 254 UTF-16 units (plus the NUL).
constexpr size_t kMaxStrUnits = 254;

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", static_cast<unsigned>(v));
  return buf;
}

bool IsSigned(uint16_t t) { return t == dt::kInt8 || t == dt::kInt16 || t == dt::kInt32 || t == dt::kInt64; }
bool IsUnsigned(uint16_t t) { return t == dt::kUint8 || t == dt::kUint16 || t == dt::kUint32 || t == dt::kUint64; }

// Bytes of one encoded value; for STR the smallest encoding (the empty string).
size_t MinValueSize(uint16_t t) {
  switch (t) {
    case dt::kInt8:
    case dt::kUint8:
      return 1;
    case dt::kInt16:
    case dt::kUint16:
      return 2;
    case dt::kInt32:
    case dt::kUint32:
      return 4;
    case dt::kInt64:
    case dt::kUint64:
      return 8;
    default:
      return 1;  // STR
  }
}

// Two's-complement sign extension without implementation-defined casts.
int64_t SignExtend(uint64_t v, size_t bytes) {
  const unsigned bits = static_cast<unsigned>(bytes * 8);
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  v &= mask;
  if (!(v >> (bits - 1))) return static_cast<int64_t>(v);
  return -static_cast<int64_t>(~v & mask) - 1;
}

// A PTP string, cut to what Pack can write again. Only a 255-unit string with
// no terminator is longer than that; cutting it here (at a character boundary,
// as Writer::Str does) keeps Pack(Unpack(x)) == x for every string we return.
bool ReadStr(Reader& r, std::string* out) {
  if (!r.Str(out)) return false;
  if (out->size() <= kMaxStrUnits) return true;  // UTF-8 is never shorter than UTF-16 in units
  std::u16string u = Utf8To16(*out);
  if (u.size() <= kMaxStrUnits) return true;
  u.resize(kMaxStrUnits);
  if (u.back() >= 0xD800 && u.back() <= 0xDBFF) u.pop_back();
  *out = Utf16To8(u);
  return true;
}

enum class ValueRead { kOk, kTruncated, kUnsupported };

ValueRead ReadValue(Reader& r, uint16_t datatype, PropValue* out) {
  PropValue v;
  v.datatype = datatype;
  if (datatype == dt::kString) {
    if (!ReadStr(r, &v.s)) return ValueRead::kTruncated;
  } else if (IsSigned(datatype) || IsUnsigned(datatype)) {
    const size_t n = MinValueSize(datatype);
    uint64_t x = 0;
    bool ok = false;
    if (n == 1) {
      uint8_t b = 0;
      ok = r.U8(&b);
      x = b;
    } else if (n == 2) {
      uint16_t b = 0;
      ok = r.U16(&b);
      x = b;
    } else if (n == 4) {
      uint32_t b = 0;
      ok = r.U32(&b);
      x = b;
    } else {
      ok = r.U64(&x);
    }
    if (!ok) return ValueRead::kTruncated;
    if (IsSigned(datatype)) {
      v.i = SignExtend(x, n);
    } else {
      v.u = x;
    }
  } else {
    return ValueRead::kUnsupported;
  }
  *out = std::move(v);
  return ValueRead::kOk;
}

Status Unsupported(const std::string& what, uint16_t datatype) {
  return Status::Error("PTP_UNSUPPORTED_DATATYPE",
                       what + ": datatype " + Hex16(datatype) + " is not supported (only INT8..UINT64 and STR; no arrays or 128-bit integers)");
}

// Reads the fields of one dataset in order and remembers the first failure,
// so each unpacker is a flat chain of named reads.
class Fields {
 public:
  Fields(const char* dataset, const uint8_t* data, size_t size) : dataset_(dataset), r_(data, size), size_(size) {}

  bool U8(const char* field, uint8_t* v) { return r_.U8(v) || Truncated(field, r_.offset()); }
  bool U16(const char* field, uint16_t* v) { return r_.U16(v) || Truncated(field, r_.offset()); }
  bool U32(const char* field, uint32_t* v) { return r_.U32(v) || Truncated(field, r_.offset()); }
  bool U64(const char* field, uint64_t* v) { return r_.U64(v) || Truncated(field, r_.offset()); }
  bool Str(const char* field, std::string* v) {
    const size_t at = r_.offset();  // a failed Str may have taken the count byte
    return ReadStr(r_, v) || Truncated(field, at);
  }
  // A trailing field that may be missing altogether (but not cut in half).
  bool OptionalStr(const char* field, std::string* v) { return AtEnd() || Str(field, v); }

  bool U16Array(const char* field, std::vector<uint16_t>* v) {
    const size_t kMaxCount = 65536;  // Reader's default; no real camera lists more codes
    Reader peek = r_;
    if (r_.U16Array(v, kMaxCount)) return true;
    uint32_t n = 0;
    if (!peek.U32(&n)) return Truncated(field, r_.offset());
    if (n > kMaxCount) {
      return Fail(field, "count " + std::to_string(n) + " is over the limit of " + std::to_string(kMaxCount));
    }
    return Fail(field,
                "count " + std::to_string(n) + " needs " + std::to_string(uint64_t{n} * 2) + " bytes but only " + std::to_string(peek.left()) + " are left");
  }

  bool Value(const std::string& field, uint16_t datatype, PropValue* v) {
    const size_t at = r_.offset();
    switch (ReadValue(r_, datatype, v)) {
      case ValueRead::kOk:
        return true;
      case ValueRead::kTruncated:
        return Truncated(field, at);
      case ValueRead::kUnsupported:
        break;
    }
    if (status_.ok()) status_ = Unsupported(std::string(dataset_) + "." + field, datatype);
    return false;
  }

  bool AtEnd() const { return r_.left() == 0; }
  size_t left() const { return r_.left(); }
  const Status& status() const { return status_; }

  bool Fail(const std::string& field, const std::string& why) {
    if (status_.ok()) status_ = Status::Error("PTP_BAD_DATASET", std::string(dataset_) + "." + field + ": " + why);
    return false;
  }

 private:
  bool Truncated(const std::string& field, size_t at) { return Fail(field, "truncated at offset " + std::to_string(at) + " of " + std::to_string(size_)); }

  const char* dataset_;
  Reader r_;
  size_t size_;
  Status status_;
};

Status CheckValue(const DevicePropDesc& d, const PropValue& v, const std::string& field) {
  if (v.datatype != d.datatype) {
    return Status::Error("PTP_BAD_VALUE", "DevicePropDesc " + Hex16(d.code) + "." + field + ": value has datatype " + Hex16(v.datatype) + " but the desc has " +
                                              Hex16(d.datatype));
  }
  return Status::Ok();
}

// Proleptic Gregorian calendar arithmetic for 0000..9999, done here rather than
// with gmtime_r/timegm so the result does not depend on the platform's time_t
// range or time zone handling.
bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static const unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days before January 1st of year y, counted from an origin 400 years (one full
// leap cycle) earlier, so that the divisions never see a negative year.
int64_t DaysBeforeYear(int64_t y) {
  const int64_t p = y + 400 - 1;
  return 365 * p + p / 4 - p / 100 + p / 400;
}

// Days from 1970-01-01 to y-m-d (negative before 1970).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  int64_t days = DaysBeforeYear(y) - DaysBeforeYear(1970);
  for (unsigned i = 1; i < m; ++i) days += DaysInMonth(y, i);
  return days + d - 1;
}

}  // namespace

PropValue PropValue::Int(uint16_t datatype, int64_t v) {
  PropValue p;
  p.datatype = datatype;
  p.i = v;
  return p;
}

PropValue PropValue::Uint(uint16_t datatype, uint64_t v) {
  PropValue p;
  p.datatype = datatype;
  p.u = v;
  return p;
}

PropValue PropValue::Str(std::string v) {
  PropValue p;
  p.datatype = dt::kString;
  p.s = std::move(v);
  return p;
}

bool operator==(const PropValue& a, const PropValue& b) {
  if (a.datatype != b.datatype) return false;
  if (IsSigned(a.datatype)) return a.i == b.i;
  if (IsUnsigned(a.datatype)) return a.u == b.u;
  if (a.datatype == dt::kString) return a.s == b.s;
  return a.i == b.i && a.u == b.u && a.s == b.s;
}

bool IsSupportedDatatype(uint16_t datatype) { return IsSigned(datatype) || IsUnsigned(datatype) || datatype == dt::kString; }

bool operator==(const DeviceInfo& a, const DeviceInfo& b) {
  return a.standard_version == b.standard_version && a.vendor_extension_id == b.vendor_extension_id &&
         a.vendor_extension_version == b.vendor_extension_version && a.vendor_extension_desc == b.vendor_extension_desc &&
         a.functional_mode == b.functional_mode && a.operations == b.operations && a.events == b.events && a.properties == b.properties &&
         a.capture_formats == b.capture_formats && a.playback_formats == b.playback_formats && a.manufacturer == b.manufacturer && a.model == b.model &&
         a.device_version == b.device_version && a.serial_number == b.serial_number;
}

bool operator==(const StorageInfo& a, const StorageInfo& b) {
  return a.storage_type == b.storage_type && a.filesystem_type == b.filesystem_type && a.access_capability == b.access_capability &&
         a.max_capacity == b.max_capacity && a.free_space_bytes == b.free_space_bytes && a.free_space_images == b.free_space_images &&
         a.description == b.description && a.volume_label == b.volume_label;
}

bool operator==(const ObjectInfo& a, const ObjectInfo& b) {
  return a.storage_id == b.storage_id && a.object_format == b.object_format && a.protection_status == b.protection_status &&
         a.compressed_size == b.compressed_size && a.thumb_format == b.thumb_format && a.thumb_compressed_size == b.thumb_compressed_size &&
         a.thumb_pix_width == b.thumb_pix_width && a.thumb_pix_height == b.thumb_pix_height && a.image_pix_width == b.image_pix_width &&
         a.image_pix_height == b.image_pix_height && a.image_bit_depth == b.image_bit_depth && a.parent_object == b.parent_object &&
         a.association_type == b.association_type && a.association_desc == b.association_desc && a.sequence_number == b.sequence_number &&
         a.filename == b.filename && a.capture_date == b.capture_date && a.modification_date == b.modification_date && a.keywords == b.keywords;
}

bool operator==(const DevicePropDesc& a, const DevicePropDesc& b) {
  if (a.code != b.code || a.datatype != b.datatype || a.get_set != b.get_set || a.factory_default != b.factory_default || a.current != b.current ||
      a.form_flag != b.form_flag) {
    return false;
  }
  if (a.form_flag == form::kRange) {
    return a.range_min == b.range_min && a.range_max == b.range_max && a.range_step == b.range_step;
  }
  if (a.form_flag == form::kEnum) return a.enum_values == b.enum_values;
  return true;
}

// ---- packing ------------------------------------------------------------------------------------------------------

std::vector<uint8_t> Pack(const DeviceInfo& d) {
  Writer w;
  w.U16(d.standard_version);
  w.U32(d.vendor_extension_id);
  w.U16(d.vendor_extension_version);
  w.Str(d.vendor_extension_desc);
  w.U16(d.functional_mode);
  w.U16Array(d.operations);
  w.U16Array(d.events);
  w.U16Array(d.properties);
  w.U16Array(d.capture_formats);
  w.U16Array(d.playback_formats);
  w.Str(d.manufacturer);
  // Always written, even when empty: a full dataset is what every reader expects.
  w.Str(d.model);
  w.Str(d.device_version);
  w.Str(d.serial_number);
  return std::move(w.bytes());
}

std::vector<uint8_t> Pack(const StorageInfo& s) {
  Writer w;
  w.U16(s.storage_type);
  w.U16(s.filesystem_type);
  w.U16(s.access_capability);
  w.U64(s.max_capacity);
  w.U64(s.free_space_bytes);
  w.U32(s.free_space_images);
  w.Str(s.description);
  w.Str(s.volume_label);
  return std::move(w.bytes());
}

std::vector<uint8_t> Pack(const ObjectInfo& o) {
  Writer w;
  w.U32(o.storage_id);
  w.U16(o.object_format);
  w.U16(o.protection_status);
  w.U32(o.compressed_size);
  w.U16(o.thumb_format);
  w.U32(o.thumb_compressed_size);
  w.U32(o.thumb_pix_width);
  w.U32(o.thumb_pix_height);
  w.U32(o.image_pix_width);
  w.U32(o.image_pix_height);
  w.U32(o.image_bit_depth);
  w.U32(o.parent_object);
  w.U16(o.association_type);
  w.U32(o.association_desc);
  w.U32(o.sequence_number);
  w.Str(o.filename);  // offset 52
  w.Str(o.capture_date);
  w.Str(o.modification_date);
  w.Str(o.keywords);
  return std::move(w.bytes());
}

Status PackValue(Writer& w, const PropValue& v) {
  switch (v.datatype) {
    case dt::kInt8:
      w.U8(static_cast<uint8_t>(v.i));
      break;
    case dt::kUint8:
      w.U8(static_cast<uint8_t>(v.u));
      break;
    case dt::kInt16:
      w.U16(static_cast<uint16_t>(v.i));
      break;
    case dt::kUint16:
      w.U16(static_cast<uint16_t>(v.u));
      break;
    case dt::kInt32:
      w.U32(static_cast<uint32_t>(v.i));
      break;
    case dt::kUint32:
      w.U32(static_cast<uint32_t>(v.u));
      break;
    case dt::kInt64:
      w.U64(static_cast<uint64_t>(v.i));
      break;
    case dt::kUint64:
      w.U64(v.u);
      break;
    case dt::kString:
      w.Str(v.s);
      break;
    default:
      return Unsupported("PropValue", v.datatype);
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> Pack(const DevicePropDesc& d) {
  if (!IsSupportedDatatype(d.datatype)) return Unsupported("DevicePropDesc " + Hex16(d.code), d.datatype);
  Status s = CheckValue(d, d.factory_default, "FactoryDefaultValue");
  if (s.ok()) s = CheckValue(d, d.current, "CurrentValue");
  if (s.ok() && d.form_flag == form::kRange) {
    s = CheckValue(d, d.range_min, "MinimumValue");
    if (s.ok()) s = CheckValue(d, d.range_max, "MaximumValue");
    if (s.ok()) s = CheckValue(d, d.range_step, "StepSize");
  }
  if (s.ok() && d.form_flag == form::kEnum) {
    if (d.enum_values.size() > 0xFFFF) {
      return Status::Error("PTP_BAD_VALUE",
                           "DevicePropDesc " + Hex16(d.code) + ": " + std::to_string(d.enum_values.size()) + " enum values; NumberOfValues is a u16");
    }
    for (size_t i = 0; i < d.enum_values.size() && s.ok(); ++i) {
      s = CheckValue(d, d.enum_values[i], "SupportedValue[" + std::to_string(i) + "]");
    }
  }
  if (!s.ok()) return s;

  // The datatypes were checked above, so PackValue cannot fail from here on.
  Writer w;
  w.U16(d.code);
  w.U16(d.datatype);
  w.U8(d.get_set);
  PackValue(w, d.factory_default);
  PackValue(w, d.current);
  w.U8(d.form_flag);
  if (d.form_flag == form::kRange) {
    PackValue(w, d.range_min);
    PackValue(w, d.range_max);
    PackValue(w, d.range_step);
  } else if (d.form_flag == form::kEnum) {
    w.U16(static_cast<uint16_t>(d.enum_values.size()));
    for (const PropValue& v : d.enum_values) PackValue(w, v);
  }
  return std::move(w.bytes());
}

// ---- unpacking ----------------------------------------------------------------------------------------------------

Result<DeviceInfo> UnpackDeviceInfo(const uint8_t* data, size_t size) {
  Fields f("DeviceInfo", data, size);
  DeviceInfo d;
  if (!f.U16("StandardVersion", &d.standard_version) || !f.U32("VendorExtensionID", &d.vendor_extension_id) ||
      !f.U16("VendorExtensionVersion", &d.vendor_extension_version) || !f.Str("VendorExtensionDesc", &d.vendor_extension_desc) ||
      !f.U16("FunctionalMode", &d.functional_mode) || !f.U16Array("OperationsSupported", &d.operations) || !f.U16Array("EventsSupported", &d.events) ||
      !f.U16Array("DevicePropertiesSupported", &d.properties) || !f.U16Array("CaptureFormats", &d.capture_formats) ||
      !f.U16Array("ImageFormats", &d.playback_formats) || !f.Str("Manufacturer", &d.manufacturer) ||
      // libgphoto2 needs the data through Manufacturer only (ptp.md 4.7).
      !f.OptionalStr("Model", &d.model) || !f.OptionalStr("DeviceVersion", &d.device_version) || !f.OptionalStr("SerialNumber", &d.serial_number)) {
    return f.status();
  }
  return d;
}

Result<StorageInfo> UnpackStorageInfo(const uint8_t* data, size_t size) {
  Fields f("StorageInfo", data, size);
  StorageInfo s;
  if (!f.U16("StorageType", &s.storage_type) || !f.U16("FilesystemType", &s.filesystem_type) || !f.U16("AccessCapability", &s.access_capability) ||
      !f.U64("MaxCapacity", &s.max_capacity) || !f.U64("FreeSpaceInBytes", &s.free_space_bytes) || !f.U32("FreeSpaceInImages", &s.free_space_images) ||
      !f.Str("StorageDescription", &s.description) || !f.OptionalStr("VolumeLabel", &s.volume_label)) {
    return f.status();
  }
  return s;
}

Result<ObjectInfo> UnpackObjectInfo(const uint8_t* data, size_t size) {
  Fields f("ObjectInfo", data, size);
  ObjectInfo o;
  if (!f.U32("StorageID", &o.storage_id) || !f.U16("ObjectFormat", &o.object_format) || !f.U16("ProtectionStatus", &o.protection_status) ||
      !f.U32("ObjectCompressedSize", &o.compressed_size) || !f.U16("ThumbFormat", &o.thumb_format) || !f.U32("ThumbCompressedSize", &o.thumb_compressed_size) ||
      !f.U32("ThumbPixWidth", &o.thumb_pix_width) || !f.U32("ThumbPixHeight", &o.thumb_pix_height) || !f.U32("ImagePixWidth", &o.image_pix_width) ||
      !f.U32("ImagePixHeight", &o.image_pix_height) || !f.U32("ImageBitDepth", &o.image_bit_depth) || !f.U32("ParentObject", &o.parent_object) ||
      !f.U16("AssociationType", &o.association_type) || !f.U32("AssociationDesc", &o.association_desc) || !f.U32("SequenceNumber", &o.sequence_number) ||
      !f.Str("Filename", &o.filename) ||
      // Like libgphoto2, accept an ObjectInfo that stops after the file name or a date.
      !f.OptionalStr("CaptureDate", &o.capture_date) || !f.OptionalStr("ModificationDate", &o.modification_date) || !f.OptionalStr("Keywords", &o.keywords)) {
    return f.status();
  }
  return o;
}

Result<DevicePropDesc> UnpackDevicePropDesc(const uint8_t* data, size_t size) {
  Fields f("DevicePropDesc", data, size);
  DevicePropDesc d;
  if (!f.U16("DevicePropertyCode", &d.code) || !f.U16("DataType", &d.datatype) || !f.U8("GetSet", &d.get_set)) {
    return f.status();
  }
  if (!IsSupportedDatatype(d.datatype)) return Unsupported("DevicePropDesc " + Hex16(d.code), d.datatype);
  if (!f.Value("FactoryDefaultValue", d.datatype, &d.factory_default)) return f.status();

  // libgphoto2 accepts a string desc that stops after the factory default or
  // after the current value (ptp.md 4.10); the missing parts read as "" / no form.
  const bool is_str = d.datatype == dt::kString;
  if (is_str && f.AtEnd()) {
    d.current = PropValue::Str("");
    return d;
  }
  if (!f.Value("CurrentValue", d.datatype, &d.current)) return f.status();
  if (is_str && f.AtEnd()) return d;
  if (!f.U8("FormFlag", &d.form_flag)) return f.status();

  if (d.form_flag == form::kRange) {
    if (!f.Value("MinimumValue", d.datatype, &d.range_min) || !f.Value("MaximumValue", d.datatype, &d.range_max) ||
        !f.Value("StepSize", d.datatype, &d.range_step)) {
      return f.status();
    }
  } else if (d.form_flag == form::kEnum) {
    uint16_t n = 0;
    if (!f.U16("NumberOfValues", &n)) return f.status();
    // Every value takes at least MinValueSize bytes: check before reserving.
    if (size_t{n} * MinValueSize(d.datatype) > f.left()) {
      f.Fail("NumberOfValues", std::to_string(n) + " values need at least " + std::to_string(size_t{n} * MinValueSize(d.datatype)) + " bytes but only " +
                                   std::to_string(f.left()) + " are left");
      return f.status();
    }
    d.enum_values.resize(n);
    for (uint16_t i = 0; i < n; ++i) {
      if (!f.Value("SupportedValue[" + std::to_string(i) + "]", d.datatype, &d.enum_values[i])) return f.status();
    }
  }
  // Any other FormFlag: no form data that we know how to read; kept as is (as libgphoto2 does).
  return d;
}

Result<PropValue> UnpackValue(Reader& r, uint16_t datatype) {
  Reader before = r;
  PropValue v;
  switch (ReadValue(r, datatype, &v)) {
    case ValueRead::kOk:
      return v;
    case ValueRead::kTruncated:
      r = before;
      return Status::Error("PTP_BAD_DATASET", "DevicePropValue: " + Hex16(datatype) + " value truncated at offset " + std::to_string(before.offset()) + " (" +
                                                  std::to_string(before.left()) + " bytes left)");
    case ValueRead::kUnsupported:
      break;
  }
  return Unsupported("DevicePropValue", datatype);
}

// ---- dates --------------------------------------------------------------------------------------------------------

std::string PtpDate(std::time_t t) {
  const int64_t kMin = DaysFromCivil(0, 1, 1) * 86400;
  const int64_t kMax = DaysFromCivil(10000 - 1, 12, 31) * 86400 + 86399;
  int64_t s = static_cast<int64_t>(t);
  if (s < kMin) s = kMin;
  if (s > kMax) s = kMax;
  // Floor division: dates before 1970 have negative t.
  int64_t days = s / 86400;
  int64_t secs = s % 86400;
  if (secs < 0) {
    secs += 86400;
    days -= 1;
  }
  // Estimate the year, then correct it by at most a step or two.
  int64_t y = 1970 + days * 400 / 146097;
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  while (y < 9999 && DaysFromCivil(y + 1, 1, 1) <= days) ++y;
  while (y > 0 && DaysFromCivil(y, 1, 1) > days) --y;
  int64_t rest = days - DaysFromCivil(y, 1, 1);
  unsigned m = 1;
  while (m < 12 && rest >= DaysInMonth(y, m)) rest -= DaysInMonth(y, m++);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02dT%02d%02d%02d", static_cast<int>(y), m, static_cast<int>(rest + 1), static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return buf;
}

Result<std::time_t> ParsePtpDate(const std::string& s) {
  auto bad = [&s](const std::string& why) { return Status::Error("PTP_BAD_DATASET", "PTP date \"" + s.substr(0, 32) + "\": " + why); };
  if (s.size() < 15) return bad("shorter than YYYYMMDDThhmmss");
  if (s[8] != 'T') return bad("no 'T' at position 8");
  auto num = [&s](size_t at, size_t n, int* out) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!num(0, 4, &y) || !num(4, 2, &mo) || !num(6, 2, &d) || !num(9, 2, &h) || !num(11, 2, &mi) || !num(13, 2, &se)) {
    return bad("non-digit in a date or time field");
  }
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, static_cast<unsigned>(mo))) {
    return bad("no such day");
  }
  if (h > 23 || mi > 59 || se > 59) return bad("no such time of day");
  const int64_t t = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + se;
  if (static_cast<int64_t>(static_cast<std::time_t>(t)) != t) return bad("out of range for time_t");
  return static_cast<std::time_t>(t);
}

}  // namespace ptp
}  // namespace camwire
