// PTP (ISO 15740) datasets: DeviceInfo, StorageInfo, ObjectInfo,
// DevicePropDesc and bare property values, packed to and unpacked from the
// little-endian bytes of a data phase.
//
// Unpacking treats the bytes as hostile (they come from a camera or from an
// initiator we do not control): every length is checked against the bytes
// present before anything is allocated, and anything malformed is a
// PTP_BAD_DATASET error naming the dataset and the field. Where libgphoto2
// 2.5.30 accepts a short dataset (ptp.md 4.7-4.10) we accept it too, but only
// when it stops cleanly at a field boundary; a field cut in half is an error.
// Bytes after the last field are ignored, because vendors append their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "common/status.h"
#include "ptp/wire.h"

namespace camwire {
namespace ptp {

// GetDeviceInfo data (ptp.md 4.7). The defaults keep libgphoto2 on its generic
// path (ptp.md 3.4): vendor extension 0 with an empty description.
struct DeviceInfo {
  uint16_t standard_version = 100;
  uint32_t vendor_extension_id = 0;
  uint16_t vendor_extension_version = 0;
  std::string vendor_extension_desc;
  uint16_t functional_mode = 0;
  std::vector<uint16_t> operations;
  std::vector<uint16_t> events;
  std::vector<uint16_t> properties;
  std::vector<uint16_t> capture_formats;
  std::vector<uint16_t> playback_formats;  // "ImageFormats" in the standard
  std::string manufacturer;
  std::string model;           // optional on the wire: empty when absent
  std::string device_version;  // optional on the wire
  std::string serial_number;   // optional on the wire
};

// GetStorageInfo data (ptp.md 4.8).
struct StorageInfo {
  uint16_t storage_type = 4;       // RemovableRAM
  uint16_t filesystem_type = 2;    // GenericHierarchical
  uint16_t access_capability = 0;  // read-write
  uint64_t max_capacity = 0;
  uint64_t free_space_bytes = 0;
  uint32_t free_space_images = 0xFFFFFFFF;  // not applicable
  std::string description;
  std::string volume_label;  // optional on the wire
};

// GetObjectInfo / SendObjectInfo data (ptp.md 4.9). The fixed part is 52
// bytes; Filename starts at offset 52. Never pack an empty filename for
// libgphoto2: it reads "filename length 0 and byte 56 non-zero" as a Samsung
// firmware bug and re-parses the dataset shifted by 4 bytes (ptp.md 3.4).
struct ObjectInfo {
  uint32_t storage_id = 0;
  uint16_t object_format = 0;
  uint16_t protection_status = 0;
  uint32_t compressed_size = 0;  // 0xFFFFFFFF means "4 GiB or more"
  uint16_t thumb_format = 0;
  uint32_t thumb_compressed_size = 0;
  uint32_t thumb_pix_width = 0;
  uint32_t thumb_pix_height = 0;
  uint32_t image_pix_width = 0;
  uint32_t image_pix_height = 0;
  uint32_t image_bit_depth = 0;
  uint32_t parent_object = 0;  // 0 = store root
  uint16_t association_type = 0;
  uint32_t association_desc = 0;
  uint32_t sequence_number = 0;
  std::string filename;
  std::string capture_date;       // "YYYYMMDDThhmmss" or empty; optional on the wire
  std::string modification_date;  // optional on the wire
  std::string keywords;           // optional on the wire
};

// One property value of a scalar datatype: INT8..UINT64 or STR (ptp.md 4.5).
// Signed types live in i, unsigned types in u, strings in s; the other
// members are ignored (and left zero/empty by the unpackers). INT128/UINT128
// and array types are not supported: packing or unpacking them is an error.
struct PropValue {
  uint16_t datatype = 0;  // a dt::k* code
  int64_t i = 0;
  uint64_t u = 0;
  std::string s;

  static PropValue Int(uint16_t datatype, int64_t v);
  static PropValue Uint(uint16_t datatype, uint64_t v);
  static PropValue Str(std::string v);
};

// Compares the datatype and the member that datatype uses.
bool operator==(const PropValue& a, const PropValue& b);
inline bool operator!=(const PropValue& a, const PropValue& b) { return !(a == b); }

// True for the datatypes PropValue can hold.
bool IsSupportedDatatype(uint16_t datatype);

namespace form {
constexpr uint8_t kNone = 0;
constexpr uint8_t kRange = 1;
constexpr uint8_t kEnum = 2;
}  // namespace form

// GetDevicePropDesc data (ptp.md 4.10). Every PropValue in it must carry the
// desc's datatype. A FormFlag other than 0/1/2 is kept as is with no form
// data (libgphoto2 does the same), so an unknown form survives a round trip.
struct DevicePropDesc {
  uint16_t code = 0;
  uint16_t datatype = 0;
  uint8_t get_set = 0;  // 0 get only, 1 get/set
  PropValue factory_default;
  PropValue current;
  uint8_t form_flag = form::kNone;
  PropValue range_min, range_max, range_step;  // form::kRange only
  std::vector<PropValue> enum_values;          // form::kEnum only (at most 65535)
};

bool operator==(const DeviceInfo& a, const DeviceInfo& b);
bool operator==(const StorageInfo& a, const StorageInfo& b);
bool operator==(const ObjectInfo& a, const ObjectInfo& b);
// Compares the range members only for form::kRange and the enum values only for form::kEnum.
bool operator==(const DevicePropDesc& a, const DevicePropDesc& b);
inline bool operator!=(const DeviceInfo& a, const DeviceInfo& b) { return !(a == b); }
inline bool operator!=(const StorageInfo& a, const StorageInfo& b) { return !(a == b); }
inline bool operator!=(const ObjectInfo& a, const ObjectInfo& b) { return !(a == b); }
inline bool operator!=(const DevicePropDesc& a, const DevicePropDesc& b) { return !(a == b); }

// Packing. Strings longer than 254 UTF-16 units are cut (Writer::Str), and
// vectors are assumed to hold fewer than 2^32 entries.
std::vector<uint8_t> Pack(const DeviceInfo& d);
std::vector<uint8_t> Pack(const StorageInfo& s);
std::vector<uint8_t> Pack(const ObjectInfo& o);
// Fails with PTP_UNSUPPORTED_DATATYPE for a datatype PropValue cannot hold, and
// with PTP_BAD_VALUE for a value whose datatype is not the desc's or for more
// than 65535 enum values.
Result<std::vector<uint8_t>> Pack(const DevicePropDesc& d);

// Unpacking; errors are PTP_BAD_DATASET. Accepted short forms (as libgphoto2):
//  - DeviceInfo may end after Manufacturer, Model or DeviceVersion;
//  - StorageInfo may end after StorageDescription;
//  - ObjectInfo may end after Filename, CaptureDate or ModificationDate;
//  - a STR DevicePropDesc may end after FactoryDefaultValue (current = "") or
//    after CurrentValue (FormFlag = none).
// A DevicePropDesc of an unsupported datatype is PTP_UNSUPPORTED_DATATYPE.
// Strings longer than the 254 UTF-16 units Pack can write (a 255-unit string
// with no terminator) are cut to 254, so that Pack(Unpack(x)) round-trips.
Result<DeviceInfo> UnpackDeviceInfo(const uint8_t* data, size_t size);
Result<StorageInfo> UnpackStorageInfo(const uint8_t* data, size_t size);
Result<ObjectInfo> UnpackObjectInfo(const uint8_t* data, size_t size);
Result<DevicePropDesc> UnpackDevicePropDesc(const uint8_t* data, size_t size);

// A bare value, as in GetDevicePropValue / SetDevicePropValue data.
// PackValue fails (PTP_UNSUPPORTED_DATATYPE) for datatypes PropValue cannot
// hold and writes nothing then. UnpackValue fails with PTP_UNSUPPORTED_DATATYPE
// or PTP_BAD_DATASET (truncated) and then leaves the reader where it was.
Status PackValue(Writer& w, const PropValue& v);
Result<PropValue> UnpackValue(Reader& r, uint16_t datatype);

// PTP date-time strings (ptp.md 4.6). PtpDate formats t as UTC
// "YYYYMMDDThhmmss" (years outside 0000..9999 are clamped). ParsePtpDate
// reads the first 15 characters as UTC and ignores the rest (tenths, a zone),
// as libgphoto2 does; fewer than 15 characters or an impossible date is
// PTP_BAD_DATASET.
std::string PtpDate(std::time_t t);
Result<std::time_t> ParsePtpDate(const std::string& s);

}  // namespace ptp
}  // namespace camwire
