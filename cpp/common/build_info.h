// What this build of the core contains and which libraries it runs against.
// The addon's probe() returns exactly this; nothing is hard-coded.
#pragma once

#include <string>
#include <vector>

namespace camwire {

struct LibraryVersion {
  std::string compiled;  // from the headers the core was built with
  std::string runtime;   // reported by the library loaded in this process
};

struct BuildInfo {
  std::string camwire_version;
  std::string cxx_standard;          // of the core, e.g. "201402"
  std::vector<std::string> modules;  // compiled-in protocol modules
  LibraryVersion openssl;
  bool has_libusb = false;
  LibraryVersion libusb;
  LibraryVersion libcurl;
  // "static": libcurl and libusb are inside the addon (a prebuild);
  // "shared": they come from the system (a source build).
  std::string dependencies;
  // SHA-256 of the sources this build was made from (scripts/source-hash.js),
  // or "unknown" for a build that was not given it.
  std::string source_hash;
};

BuildInfo GetBuildInfo();

}  // namespace camwire
