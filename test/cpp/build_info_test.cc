#include "common/build_info.h"

#include <gtest/gtest.h>
#include <openssl/opensslv.h>

namespace camwire {

TEST(BuildInfo, ReportsTheCoreStandardAndVersion) {
  BuildInfo info = GetBuildInfo();
  EXPECT_EQ(info.cxx_standard, "201402");
  EXPECT_FALSE(info.camwire_version.empty());
  EXPECT_NE(info.camwire_version, "unknown");
}

TEST(BuildInfo, OpenSslRuntimeMatchesTheLinkedLibrary) {
  BuildInfo info = GetBuildInfo();
  EXPECT_EQ(info.openssl.compiled, OPENSSL_VERSION_TEXT);
  // This test binary links Debian's libcrypto, so compiled and runtime agree
  // on the major version at least.
  EXPECT_EQ(info.openssl.runtime.substr(0, 9), std::string("OpenSSL 3"));
}

#ifdef CAMWIRE_WITH_LIBUSB
TEST(BuildInfo, LibusbVersionIsReadFromTheLibrary) {
  BuildInfo info = GetBuildInfo();
  ASSERT_TRUE(info.has_libusb);
  EXPECT_EQ(info.libusb.runtime.substr(0, 2), "1.");
}
#endif

}  // namespace camwire
