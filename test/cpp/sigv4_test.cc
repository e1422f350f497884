#include "kvs/sigv4.h"

#include <gtest/gtest.h>

namespace camwire {
namespace sigv4 {
namespace {

const Credentials kCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Options Suite() {
  Options o;
  o.region = "us-east-1";
  o.service = "service";
  o.amz_date = "20150830T123600Z";
  return o;
}

// Vectors of the AWS SigV4 test suite (fixed inputs: the credentials above,
// us-east-1/service, 20150830T123600Z, host example.amazonaws.com).
TEST(SigV4Suite, GetVanilla) {
  Request r{"GET", "/", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, kEmpty};
  auto s = Sign(r, kCreds, Suite());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s.value().canonical_request, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmpty);
  EXPECT_EQ(s.value().signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(s.value().authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Suite, PostVanilla) {
  Request r{"POST", "/", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}}, kEmpty};
  EXPECT_EQ(Sign(r, kCreds, Suite()).value().signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Suite, PostXWwwFormUrlencoded) {
  Request r{"POST",
            "/",
            {},
            {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
            Sha256Hex("Param1=value1")};
  EXPECT_EQ(Sign(r, kCreds, Suite()).value().signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4Suite, IamListUsersFromTheAwsDocs) {
  EXPECT_EQ(SigningKeyHex(kCreds.secret_access_key, "20150830", "us-east-1", "iam"), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  Request r{"GET",
            "/",
            {{"Action", "ListUsers"}, {"Version", "2010-05-08"}},
            {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Host", "iam.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
            kEmpty};
  Options o = Suite();
  o.service = "iam";
  auto s = Sign(r, kCreds, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Sha256Hex(s.value().canonical_request), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s.value().signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// The pre-signed URL example of the S3 docs ("Authenticating Requests: Using
// Query Parameters"): the query carries the X-Amz-* parameters, the payload is
// the literal UNSIGNED-PAYLOAD, S3 paths are neither normalised nor encoded twice.
TEST(SigV4S3, PresignedUrlFromTheS3Docs) {
  Request r{"GET",
            "/test.txt",
            {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
             {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
             {"X-Amz-Date", "20130524T000000Z"},
             {"X-Amz-Expires", "86400"},
             {"X-Amz-SignedHeaders", "host"}},
            {{"Host", "examplebucket.s3.amazonaws.com"}},
            "UNSIGNED-PAYLOAD"};
  Options o;
  o.region = "us-east-1";
  o.service = "s3";
  o.amz_date = "20130524T000000Z";
  o.normalize_path = false;
  o.double_encode_path = false;
  auto s = Sign(r, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s.value().signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  r.payload_sha256_hex = "UNSIGNED";
  EXPECT_EQ(Sign(r, {"AKIAIOSFODNN7EXAMPLE", "x", ""}, o).status().code(), "SIGV4_BAD_PAYLOAD_HASH");
  r.payload_sha256_hex = std::string(64, 'G');
  EXPECT_EQ(Sign(r, {"AKIAIOSFODNN7EXAMPLE", "x", ""}, o).status().code(), "SIGV4_BAD_PAYLOAD_HASH");
}

// The fact sheet's KVS vectors: PutMedia signs the empty body's hash.
TEST(SigV4Kvs, PutMediaGoldenVector) {
  Request r{"POST",
            "/putMedia",
            {},
            {{"connection", "keep-alive"},
             {"host", "s-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com"},
             {"transfer-encoding", "chunked"},
             {"user-agent", "my-kvs-producer/1.0"},
             {"x-amz-date", "20150830T123600Z"},
             {"x-amzn-fragment-acknowledgment-required", "1"},
             {"x-amzn-fragment-timecode-type", "ABSOLUTE"},
             {"x-amzn-producer-start-timestamp", "1440938160.000"},
             {"x-amzn-stream-name", "my-stream"}},
            kEmpty};
  Options o;
  o.region = "us-west-2";
  o.service = "kinesisvideo";
  o.amz_date = "20150830T123600Z";
  auto s = Sign(r, kCreds, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Sha256Hex(s.value().canonical_request), "8ca9fa944da3c590d6ea189c2d17268868b24a4d2259ef12ea3da1d75a724f61");
  EXPECT_EQ(SigningKeyHex(kCreds.secret_access_key, "20150830", "us-west-2", "kinesisvideo"),
            "bbbf5a1060eae60ec1734de176d5f0e2a6699543c416eaf6c2ffcf7d12085dc4");
  EXPECT_EQ(s.value().signature, "a5f238338804dfc39be988a00a94d63146c9525a3ffc6ffbaccc3bee621c07a3");
  EXPECT_EQ(s.value().signed_headers,
            "connection;host;transfer-encoding;user-agent;x-amz-date;x-amzn-fragment-acknowledgment-required;x-amzn-fragment-timecode-type;"
            "x-amzn-producer-start-timestamp;x-amzn-stream-name");
}

TEST(SigV4Kvs, GetDataEndpointGoldenVector) {
  const std::string body = R"({"StreamName":"my-stream","APIName":"PUT_MEDIA"})";
  EXPECT_EQ(Sha256Hex(body), "cf44409732dbaf0d7463eb23388f5210e18c14c9149c7a68964e6fbaee13e2d5");
  Request r{"POST", "/getDataEndpoint", {}, {{"host", "kinesisvideo.us-west-2.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}}, Sha256Hex(body)};
  Options o;
  o.region = "us-west-2";
  o.service = "kinesisvideo";
  o.amz_date = "20150830T123600Z";
  EXPECT_EQ(Sign(r, kCreds, o).value().signature, "2bb38e0575c32a2d4d14bdcbaa443ef5508146847bfa4e10a6e88c319add0b38");
}

TEST(SigV4, CanonicalFormRules) {
  Request r{"GET",
            "/a/./b/../c//d",
            {{"b", "2"}, {"a", "x y"}, {"a", "1"}},
            {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"My-Header1", "  a   b  \n   c "}, {"my-header1", "d"}},
            kEmpty};
  auto s = Sign(r, kCreds, Suite());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(
      s.value().canonical_request,
      "GET\n/a/c/d\na=1&a=x%20y&b=2\nhost:example.amazonaws.com\nmy-header1:a b c,d\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + kEmpty);
  EXPECT_EQ(UriEncode("a b/ü~*", true), "a%20b/%C3%BC~%2A");
  Request bad = r;
  bad.headers = {{"X-Amz-Date", "20150830T123600Z"}};
  EXPECT_EQ(Sign(bad, kCreds, Suite()).status().code(), "SIGV4_NO_HOST");
  Options date = Suite();
  date.amz_date = "2015-08-30";
  EXPECT_EQ(Sign(r, kCreds, date).status().code(), "SIGV4_BAD_DATE");
}

}  // namespace
}  // namespace sigv4
}  // namespace camwire
