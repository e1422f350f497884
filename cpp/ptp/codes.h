// PTP (ISO 15740) codes camwire speaks: operations, responses, events,
// object formats, data types, and camwire's vendor codes (DESIGN.md).
#pragma once

#include <cstdint>

namespace camwire {
namespace ptp {

namespace op {
constexpr uint16_t kGetDeviceInfo = 0x1001;
constexpr uint16_t kOpenSession = 0x1002;
constexpr uint16_t kCloseSession = 0x1003;
constexpr uint16_t kGetStorageIDs = 0x1004;
constexpr uint16_t kGetStorageInfo = 0x1005;
constexpr uint16_t kGetNumObjects = 0x1006;
constexpr uint16_t kGetObjectHandles = 0x1007;
constexpr uint16_t kGetObjectInfo = 0x1008;
constexpr uint16_t kGetObject = 0x1009;
constexpr uint16_t kGetThumb = 0x100A;
constexpr uint16_t kDeleteObject = 0x100B;
constexpr uint16_t kSendObjectInfo = 0x100C;
constexpr uint16_t kSendObject = 0x100D;
constexpr uint16_t kGetDevicePropDesc = 0x1014;
constexpr uint16_t kGetDevicePropValue = 0x1015;
constexpr uint16_t kSetDevicePropValue = 0x1016;
constexpr uint16_t kGetPartialObject = 0x101B;
// camwire vendor operation (DESIGN.md): data phase initiator -> responder, UTF-8 JSON upload target.
constexpr uint16_t kSetUploadTarget = 0x9A01;
}  // namespace op

namespace rc {
constexpr uint16_t kOk = 0x2001;
constexpr uint16_t kGeneralError = 0x2002;
constexpr uint16_t kSessionNotOpen = 0x2003;
constexpr uint16_t kInvalidTransactionId = 0x2004;
constexpr uint16_t kOperationNotSupported = 0x2005;
constexpr uint16_t kParameterNotSupported = 0x2006;
constexpr uint16_t kIncompleteTransfer = 0x2007;
constexpr uint16_t kInvalidStorageId = 0x2008;
constexpr uint16_t kInvalidObjectHandle = 0x2009;
constexpr uint16_t kDevicePropNotSupported = 0x200A;
constexpr uint16_t kInvalidObjectFormatCode = 0x200B;
constexpr uint16_t kStoreFull = 0x200C;
constexpr uint16_t kObjectWriteProtected = 0x200D;
constexpr uint16_t kStoreReadOnly = 0x200E;
constexpr uint16_t kAccessDenied = 0x200F;
constexpr uint16_t kNoThumbnailPresent = 0x2010;
constexpr uint16_t kStoreNotAvailable = 0x2013;
constexpr uint16_t kNoValidObjectInfo = 0x2015;
constexpr uint16_t kDeviceBusy = 0x2019;
constexpr uint16_t kInvalidParentObject = 0x201A;
constexpr uint16_t kInvalidDevicePropFormat = 0x201B;
constexpr uint16_t kInvalidDevicePropValue = 0x201C;
constexpr uint16_t kInvalidParameter = 0x201D;
constexpr uint16_t kSessionAlreadyOpened = 0x201E;
constexpr uint16_t kTransactionCancelled = 0x201F;
constexpr uint16_t kInvalidDataSet = 0x2023;
}  // namespace rc

namespace ev {
constexpr uint16_t kCancelTransaction = 0x4001;
constexpr uint16_t kObjectAdded = 0x4002;
constexpr uint16_t kObjectRemoved = 0x4003;
constexpr uint16_t kDevicePropChanged = 0x4006;
constexpr uint16_t kStorageInfoChanged = 0x400C;
}  // namespace ev

// Object formats: PTP 1.1 (ISO 15740) and, for what PTP has none for, MTP 1.1.
// Initiators skip 0x3000 Undefined when they download (gphoto2 lists such
// objects but never saves them), so every format a camera writes has a code.
namespace fmt {
constexpr uint16_t kUndefined = 0x3000;
constexpr uint16_t kAssociation = 0x3001;
constexpr uint16_t kText = 0x3004;
constexpr uint16_t kHtml = 0x3005;
constexpr uint16_t kAiff = 0x3007;
constexpr uint16_t kWav = 0x3008;
constexpr uint16_t kMp3 = 0x3009;
constexpr uint16_t kAvi = 0x300A;
constexpr uint16_t kMpeg = 0x300B;
constexpr uint16_t kAsf = 0x300C;
constexpr uint16_t kQuickTime = 0x300D;
constexpr uint16_t kUndefinedImage = 0x3800;  // an image of a format PTP does not name (HEIF, camera raw)
constexpr uint16_t kExifJpeg = 0x3801;
constexpr uint16_t kBmp = 0x3804;
constexpr uint16_t kGif = 0x3807;
constexpr uint16_t kJfif = 0x3808;
constexpr uint16_t kPng = 0x380B;
constexpr uint16_t kTiff = 0x380D;
constexpr uint16_t kJp2 = 0x380F;
constexpr uint16_t kDng = 0x3811;
constexpr uint16_t kMtpUndefinedAudio = 0xB900;
constexpr uint16_t kMtpWma = 0xB901;
constexpr uint16_t kMtpOgg = 0xB902;
constexpr uint16_t kMtpAac = 0xB903;
constexpr uint16_t kMtpFlac = 0xB906;
constexpr uint16_t kMtpUndefinedVideo = 0xB980;  // Matroska, raw H.264/H.265, WebM, MPEG-TS
constexpr uint16_t kMtpWmv = 0xB981;
constexpr uint16_t kMp4 = 0xB982;  // MTP MP4 container
constexpr uint16_t kMtp3gp = 0xB984;
}  // namespace fmt

namespace dt {
constexpr uint16_t kInt8 = 0x0001;
constexpr uint16_t kUint8 = 0x0002;
constexpr uint16_t kInt16 = 0x0003;
constexpr uint16_t kUint16 = 0x0004;
constexpr uint16_t kInt32 = 0x0005;
constexpr uint16_t kUint32 = 0x0006;
constexpr uint16_t kInt64 = 0x0007;
constexpr uint16_t kUint64 = 0x0008;
constexpr uint16_t kArrayFlag = 0x4000;
constexpr uint16_t kString = 0xFFFF;
}  // namespace dt

namespace prop {
constexpr uint16_t kBatteryLevel = 0x5001;
constexpr uint16_t kDateTime = 0x5011;
constexpr uint16_t kArtist = 0x501E;
// camwire vendor property (DESIGN.md): the last upload result in short form, read-only string.
constexpr uint16_t kLastUploadStatus = 0xD2A1;
}  // namespace prop

constexpr uint32_t kStorageId = 0x00010001;
constexpr uint32_t kAllStorages = 0xFFFFFFFF;
constexpr uint32_t kRootParent = 0xFFFFFFFF;  // GetObjectHandles association: root level only

}  // namespace ptp
}  // namespace camwire
