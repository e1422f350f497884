#include "kvs/ack_parser.h"

#include <gtest/gtest.h>

#include <random>

namespace camwire {
namespace kvs {
namespace {

const std::string kStream =
    "{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1631530102146,\"FragmentNumber\":\"91343852333181714687576861120838395174634006751\"}\n"
    "{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":1631530098173,\"FragmentNumber\":\"91343852333181714682625100963696872342906958423\"}\n"
    "{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":1663277247152,\"FragmentNumber\":\"91343852333181432511524306419788296366724229586\"}\n"
    "{\"EventType\":\"IDLE\"}\n"
    "{\"EventType\":\"ERROR\",\"FragmentTimecode\":12345,\"FragmentNumber\":\"9134\",\"ErrorId\":5000,\"ErrorCode\":\"DUMMY_ERROR\"}\n";

std::vector<Ack> FeedAll(const std::string& s, size_t chunk) {
  AckParser p;
  std::vector<Ack> out;
  for (size_t i = 0; i < s.size(); i += chunk) {
    Status st = p.Feed(reinterpret_cast<const uint8_t*>(s.data()) + i, std::min(chunk, s.size() - i), out);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return out;
}

TEST(AckParser, RealAcksInAnyChunking) {
  for (size_t chunk : {1u, 2u, 7u, 64u, 4096u}) {
    auto acks = FeedAll(kStream, chunk);
    ASSERT_EQ(acks.size(), 5u) << "chunk " << chunk;
    EXPECT_EQ(acks[0].type, AckType::kBuffering);
    EXPECT_EQ(acks[0].fragment_timecode, 1631530102146ull);
    EXPECT_EQ(acks[0].fragment_number, "91343852333181714687576861120838395174634006751");
    EXPECT_EQ(acks[2].type, AckType::kPersisted);
    EXPECT_EQ(acks[3].type, AckType::kIdle);
    EXPECT_FALSE(acks[3].has_timecode);
    EXPECT_EQ(acks[4].type, AckType::kError);
    EXPECT_EQ(acks[4].error_id, 5000u);
    EXPECT_EQ(acks[4].error_code, "DUMMY_ERROR");
  }
}

TEST(AckParser, DocumentedWrappedFormAndUnknownKeys) {
  const std::string s =
      "{\"Acknowledgement\":{\"AckEventType\":\"PERSISTED\",\"FragmentTimecode\":7,\"FragmentNumber\":\"1\"},"
      "\"Extra\":{\"a\":[1,2,{\"b\":null}],\"c\":\"}{\"},\"Flag\":true}";
  auto acks = FeedAll(s, 3);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].type, AckType::kPersisted);
  EXPECT_EQ(acks[0].fragment_timecode, 7u);
}

TEST(AckParser, MalformedAndOversizedAcksFailAndStayFailed) {
  struct Case {
    std::string text;
    std::string code;
  };
  const Case cases[] = {
      {"{\"EventType\":\"PERSISTED\"}", "KVS_ACK_MALFORMED"},                         // no timecode
      {"{\"EventType\":\"WHAT\",\"FragmentTimecode\":1}", "KVS_ACK_MALFORMED"},       // unknown type
      {"{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":-1}", "KVS_ACK_MALFORMED"},  // negative
      {"{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":99999999999999999999999}", "KVS_ACK_MALFORMED"},
      {"garbage", "KVS_ACK_MALFORMED"},
      {"{\"EventType\":\"RECEIVED\",\"FragmentTimecode\":1,\"FragmentNumber\":\"" + std::string(2000, '1') + "\"}", "KVS_ACK_TOO_LONG"},
      {"{\"a\":[[[[[[[[1]]]]]]]]}", "KVS_ACK_MALFORMED"},
  };
  for (const auto& c : cases) {
    AckParser p;
    std::vector<Ack> out;
    Status s = p.Feed(reinterpret_cast<const uint8_t*>(c.text.data()), c.text.size(), out);
    EXPECT_EQ(s.code(), c.code) << c.text.substr(0, 60);
    const std::string ok = "{\"EventType\":\"IDLE\"}";
    EXPECT_FALSE(p.Feed(reinterpret_cast<const uint8_t*>(ok.data()), ok.size(), out).ok()) << "stays failed";
    EXPECT_TRUE(out.empty());
  }
}

TEST(AckParser, RandomBytesNeverCrashOrGrowUnbounded) {
  std::mt19937 rng(9);
  const std::string alphabet = "{}[]\":,0123456789 EventypFragmnTcodIDLBUFRSPERSISTEDr\\\n";
  for (int i = 0; i < 5000; ++i) {
    AckParser p;
    std::vector<Ack> out;
    std::string s(rng() % 3000, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    (void)p.Feed(reinterpret_cast<const uint8_t*>(s.data()), s.size(), out);
  }
  SUCCEED();
}

}  // namespace
}  // namespace kvs
}  // namespace camwire
