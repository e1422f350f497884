#include "common/build_info.h"

#include <cstdio>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#ifdef CAMWIRE_WITH_LIBUSB
#include <libusb.h>
#endif

#ifndef CAMWIRE_VERSION
#define CAMWIRE_VERSION "unknown"
#endif

#ifndef CAMWIRE_SOURCE_HASH
#define CAMWIRE_SOURCE_HASH "unknown"
#endif

namespace camwire {

namespace {
// One whole string in .rodata, so a test can read the stamp out of a prebuild
// of any architecture without loading it (test/prebuilds.test.ts).
const char kSourceStamp[] = "camwire-source-sha256=" CAMWIRE_SOURCE_HASH;
}  // namespace

BuildInfo GetBuildInfo() {
  BuildInfo info;
  info.camwire_version = CAMWIRE_VERSION;
  info.cxx_standard = std::to_string(__cplusplus);
  // Modules register here as they land (kvs producer, ptp, ptp-usb).
  info.modules.push_back("kvs-mkv");       // H.264 Annex-B -> MKV packaging (cpp/kvs)
  info.modules.push_back("kvs-producer");  // PutMedia over libcurl (cpp/kvs/producer)
  info.modules.push_back("ptp-ip");        // PTP session layer + PTP/IP, both roles (cpp/ptp)
#ifdef CAMWIRE_WITH_LIBUSB
  info.modules.push_back("ptp-usb");  // the app side over libusb
#endif
#ifdef CAMWIRE_WITH_UMOCKDEV
  info.modules.push_back("ptp-usb-virtual");  // the simulated camera as a virtual USB device (umockdev)
#endif
  info.openssl.compiled = OPENSSL_VERSION_TEXT;
  info.openssl.runtime = OpenSSL_version(OPENSSL_VERSION);
#ifdef CAMWIRE_WITH_LIBUSB
  info.has_libusb = true;
  char api[16];
  std::snprintf(api, sizeof api, "0x%08x", static_cast<unsigned>(LIBUSB_API_VERSION));
  info.libusb.compiled = std::string("API ") + api;
  const libusb_version* v = libusb_get_version();
  info.libusb.runtime =
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro) + "." + std::to_string(v->nano) + (v->rc ? v->rc : "");
#endif
  info.libcurl.compiled = LIBCURL_VERSION;
  info.libcurl.runtime = curl_version_info(CURLVERSION_NOW)->version;
#ifdef CAMWIRE_STATIC_DEPS
  info.dependencies = "static";
#else
  info.dependencies = "shared";
#endif
  info.source_hash = kSourceStamp + sizeof("camwire-source-sha256=") - 1;
  return info;
}

}  // namespace camwire
