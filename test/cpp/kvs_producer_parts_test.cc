// The producer's pure pieces: endpoint URLs, JSON fields of the service's
// answers, and what a failed exchange or an ERROR ack means.
#include <gtest/gtest.h>

#include "kvs/clock.h"
#include "kvs/http_text.h"
#include "kvs/input_queue.h"
#include "kvs/putmedia_errors.h"

namespace camwire {
namespace kvs {

TEST(KvsHttpText, ParseUrlDropsDefaultPortsAndPaths) {
  Result<Url> u = ParseUrl("https://kinesisvideo.us-east-1.amazonaws.com:443/some/path");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u.value().scheme, "https");
  EXPECT_EQ(u.value().authority, "kinesisvideo.us-east-1.amazonaws.com");
  EXPECT_EQ(u.value().base, "https://kinesisvideo.us-east-1.amazonaws.com");
  Result<Url> local = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local.value().authority, "127.0.0.1:8080");
  EXPECT_EQ(ParseUrl("ftp://x").status().code(), "KVS_BAD_OPTIONS");
  EXPECT_EQ(ParseUrl("https://user@host").status().code(), "KVS_BAD_OPTIONS");
  EXPECT_EQ(ParseUrl("https://").status().code(), "KVS_BAD_OPTIONS");
}

TEST(KvsHttpText, JsonStringField) {
  EXPECT_EQ(JsonStringField("{\"DataEndpoint\" : \"https://a.b\"}", "DataEndpoint"), "https://a.b");
  EXPECT_EQ(JsonStringField("{\"message\":\"a \\\"q\\\" \\n\"}", "message"), "a \"q\" \n");
  EXPECT_EQ(JsonStringField("{\"message\":\"unterminated", "message"), "");
  EXPECT_EQ(JsonStringField("{\"message\": 5}", "message"), "");
  EXPECT_EQ(JsonStringField("{}", "message"), "");
}

TEST(KvsInputQueue, KeyframeHint) {
  EXPECT_EQ(KeyframeHintFromInt(1), KeyframeHint::kYes);
  EXPECT_EQ(KeyframeHintFromInt(0), KeyframeHint::kNo);
  EXPECT_EQ(KeyframeHintFromInt(-1), KeyframeHint::kFromNals);
}

TEST(KvsInputQueue, OneInputStyleIncreasingTimestampsAndClose) {
  InputQueue q;
  const uint8_t frame[4] = {0, 0, 1, 0x65};
  bool wake = false;
  EXPECT_TRUE(q.PushFrame(frame, sizeof frame, 10, KeyframeHint::kYes, nullptr, &wake).ok());
  EXPECT_TRUE(wake);
  EXPECT_TRUE(q.PushFrame(frame, sizeof frame, 20, KeyframeHint::kNo, nullptr, &wake).ok());
  EXPECT_FALSE(wake);  // woken for the first one already
  EXPECT_EQ(q.PushFrame(frame, sizeof frame, 20, KeyframeHint::kNo, nullptr, &wake).code(), "KVS_TIMESTAMP_NOT_INCREASING");
  EXPECT_EQ(q.PushAnnexB(frame, sizeof frame, nullptr, &wake).code(), "KVS_MIXED_INPUT");
  EXPECT_EQ(q.QueuedBytes(), 8u);
  QueuedInput item;
  EXPECT_EQ(q.Front(false, &item), InputQueue::Peek::kBudgetSpent);
  q.RequestClose();
  EXPECT_EQ(q.Front(false, &item), InputQueue::Peek::kItem);  // closing drains everything
  EXPECT_EQ(item.pts, 10u);
  EXPECT_EQ(q.PushFrame(frame, sizeof frame, 30, KeyframeHint::kNo, nullptr, &wake).code(), "KVS_CLOSED");
  EXPECT_FALSE(q.ClosingAndDrained());
  while (q.Pop(&item)) q.Released(item.size);
  EXPECT_TRUE(q.ClosingAndDrained());
  EXPECT_EQ(q.QueuedBytes(), 0u);
}

TransferFailure Http(long status, const std::string& body = "", const std::string& error_type = "") {
  TransferFailure f;
  f.put_media = true;
  f.status = status;
  f.body = body;
  f.error_type = error_type;
  return f;
}

TEST(KvsFailureMap, NoAnswer) {
  FailureCounters c;
  TransferFailure f;
  f.put_media = true;
  f.result = CURLE_COULDNT_CONNECT;
  f.curl_error = "refused";
  FailureVerdict v = ClassifyFailure(f, &c, 3, false);
  EXPECT_FALSE(v.fatal);
  EXPECT_EQ(v.code, "KVS_UNREACHABLE");
  EXPECT_EQ(v.message, "PutMedia: refused");
  EXPECT_FALSE(v.forget_endpoint);
  ClassifyFailure(f, &c, 3, false);
  v = ClassifyFailure(f, &c, 3, false);
  EXPECT_TRUE(v.forget_endpoint);  // the third in a row: ask GetDataEndpoint again
  EXPECT_EQ(c.connect_failures, 0u);
  f.result = CURLE_RECV_ERROR;
  EXPECT_EQ(ClassifyFailure(f, &c, 3, false).code, "KVS_CONNECTION_DROPPED");
  f.put_media = false;
  EXPECT_EQ(ClassifyFailure(f, &c, 3, false).code, "KVS_UNREACHABLE");
  f.result = CURLE_PEER_FAILED_VERIFICATION;
  v = ClassifyFailure(f, &c, 3, false);
  EXPECT_TRUE(v.fatal);
  EXPECT_EQ(v.code, "KVS_TLS");
}

TEST(KvsFailureMap, HttpStatuses) {
  FailureCounters c;
  FailureVerdict v = ClassifyFailure(Http(403, "{\"message\":\"bad signature\"}"), &c, 2, false);
  EXPECT_FALSE(v.fatal);
  EXPECT_EQ(v.code, "KVS_NOT_AUTHORIZED");
  EXPECT_EQ(v.message, "PutMedia answered HTTP 403: bad signature");
  v = ClassifyFailure(Http(401), &c, 2, false);
  EXPECT_TRUE(v.fatal);  // the second in a row with max 2
  EXPECT_EQ(ClassifyFailure(Http(404), &c, 2, false).code, "KVS_STREAM_NOT_FOUND");
  EXPECT_TRUE(ClassifyFailure(Http(404), &c, 2, false).fatal);
  v = ClassifyFailure(Http(400, "{\"Message\":\"no\"}"), &c, 2, false);
  EXPECT_TRUE(v.fatal);
  EXPECT_EQ(v.code, "KVS_INVALID_ARGUMENT");
  v = ClassifyFailure(Http(400, "", "ConnectionLimitExceededException"), &c, 2, false);
  EXPECT_FALSE(v.fatal);
  EXPECT_EQ(v.code, "KVS_LIMIT_EXCEEDED");
  v = ClassifyFailure(Http(503), &c, 2, false);
  EXPECT_EQ(v.code, "KVS_SERVICE_ERROR");
  EXPECT_TRUE(v.forget_endpoint);
  EXPECT_FALSE(ClassifyFailure(Http(503), &c, 2, true).forget_endpoint);  // a fixed data endpoint
  TransferFailure dropped = Http(200);
  dropped.result = CURLE_RECV_ERROR;
  dropped.curl_error = "reset";
  EXPECT_EQ(ClassifyFailure(dropped, &c, 2, false).code, "KVS_CONNECTION_DROPPED");
}

TEST(KvsClock, ParseHttpDate) {
  uint64_t ms = 0;
  ASSERT_TRUE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", &ms));
  EXPECT_EQ(ms, 784111777000ull);
  ASSERT_TRUE(ParseHttpDate("Mon, 07 Dec 2026 03:09:11 GMT", &ms));
  EXPECT_EQ(AmzDate(ms), "20261207T030911Z");
  for (const char* bad : {"", "Sun 06 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1969 08:49:37 GMT", "garbage"}) {
    EXPECT_FALSE(ParseHttpDate(bad, &ms)) << bad;
  }
  EXPECT_FALSE(ParseHttpDate(std::string(100, 'x'), &ms));
}

TEST(KvsFailureMap, ClockSkewIsRecognised) {
  TransferFailure f;
  f.status = 403;
  f.body = "{\"message\":\"Signature expired: 20150830T123600Z is now earlier than 20150830T124000Z (20150830T124500Z - 5 min.)\"}";
  EXPECT_TRUE(IsClockSkewFailure(f));
  f.body = "{\"message\":\"Signature not yet current: 20150830T125000Z is still later than 20150830T124959Z (20150830T124459Z + 5 min.)\"}";
  EXPECT_TRUE(IsClockSkewFailure(f));
  f.body = "{\"message\":\"The security token included in the request is invalid.\"}";
  EXPECT_FALSE(IsClockSkewFailure(f));
  f.body = "";
  f.error_type = "RequestTimeTooSkewed";
  EXPECT_TRUE(IsClockSkewFailure(f));
  f.status = 500;
  EXPECT_FALSE(IsClockSkewFailure(f));
}

TEST(KvsFailureMap, AckErrors) {
  EXPECT_TRUE(StreamLevelAckError(4008));
  EXPECT_TRUE(StreamLevelAckError(4503));
  EXPECT_FALSE(StreamLevelAckError(4006));
  Ack a;
  a.type = AckType::kError;
  a.error_id = 4006;
  a.error_code = "INVALID_MKV_DATA";
  a.fragment_timecode = 1234;
  EXPECT_EQ(AckErrorMessage(a), "KVS answered ERROR 4006 INVALID_MKV_DATA for the fragment at 1234");
}

}  // namespace kvs
}  // namespace camwire
