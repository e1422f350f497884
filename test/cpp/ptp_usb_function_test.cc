// The device side of PTP over USB at the transfer level: containers in from
// bulk OUT, containers out as bulk IN transfers cut to the host's URB sizes,
// with short packets and zero-length packets where USB needs them.
#include "ptp/usb_function.h"

#include <gtest/gtest.h>

#include <thread>

#include "ptp/codes.h"
#include "ptp/wire.h"

namespace camwire {
namespace ptp {
namespace usb {
namespace {

std::vector<uint8_t> CommandContainer(uint16_t code, uint32_t tid, std::vector<uint32_t> params) { return PackContainer(kCommand, code, tid, params); }

std::vector<uint8_t> DataContainer(uint16_t code, uint32_t tid, const std::vector<uint8_t>& payload) {
  ContainerHeader h{static_cast<uint32_t>(kHeader + payload.size()), kData, code, tid};
  std::vector<uint8_t> out = PackHeader(h);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(UsbFunction, CommandsParsedFromBulkOutInAnyPieces) {
  Function f;
  const auto c = CommandContainer(op::kGetObjectInfo, 7, {42});
  f.BulkOut(c.data(), 5);
  std::thread late([&] { f.BulkOut(c.data() + 5, c.size() - 5); });
  auto cmd = f.ReadCommand();
  late.join();
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd.value().code, op::kGetObjectInfo);
  EXPECT_EQ(cmd.value().transaction_id, 7u);
  EXPECT_EQ(cmd.value().params, std::vector<uint32_t>{42});
  EXPECT_FALSE(cmd.value().data_out);
  const auto s = CommandContainer(op::kSendObject, 8, {});
  f.BulkOut(s.data(), s.size());
  EXPECT_TRUE(f.ReadCommand().value().data_out);
}

TEST(UsbFunction, ATransferOfWholePacketsThatFillsTheUrbEndsWithAZeroLengthPacket) {
  Function f(512);
  BufferSource src(std::vector<uint8_t>(1024 - kHeader, 0xAB));  // container = exactly 2 packets
  ASSERT_TRUE(f.SendData(3, src).ok());
  ASSERT_TRUE(f.SendResponse(Response{rc::kOk, 3, {}}).ok());
  uint8_t urb[512];
  EXPECT_EQ(f.BulkIn(urb, 512), 512);
  ContainerHeader h;
  ASSERT_TRUE(UnpackHeader(urb, 512, &h));
  EXPECT_EQ(h.length, 1024u);
  EXPECT_EQ(h.type, kData);
  EXPECT_EQ(f.BulkIn(urb, 512), 512);
  EXPECT_EQ(f.BulkIn(urb, 512), 0) << "the zero-length packet ends the data transfer";
  EXPECT_EQ(f.BulkIn(urb, 512), 12) << "then the response, short";
  EXPECT_EQ(f.BulkIn(urb, 512), -1) << "nothing more: the URB stays pending";
}

TEST(UsbFunction, AShortLastPacketEndsATransferAndABigUrbTakesItWhole) {
  Function f(512);
  BufferSource src(std::vector<uint8_t>(100, 1));
  ASSERT_TRUE(f.SendData(4, src).ok());
  std::vector<uint8_t> urb(1 << 20);
  EXPECT_EQ(f.BulkIn(urb.data(), urb.size()), 112) << "one short URB, no ZLP";
  EXPECT_EQ(f.BulkIn(urb.data(), urb.size()), -1);
  // 4096 bytes exactly into a bigger URB: short (for the URB), so no separate ZLP.
  BufferSource even(std::vector<uint8_t>(4096 - kHeader, 2));
  ASSERT_TRUE(f.SendData(5, even).ok());
  EXPECT_EQ(f.BulkIn(urb.data(), urb.size()), 4096);
  EXPECT_EQ(f.BulkIn(urb.data(), urb.size()), -1);
}

TEST(UsbFunction, AnObjectLargerThanTheQueueStreamsIntoAUrbLargerThanTheQueue) {
  Function f(512, 64 * 1024);
  std::vector<uint8_t> big(3 * 1024 * 1024 + 5);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  std::thread producer([&] {
    BufferSource src(big);
    ASSERT_TRUE(f.SendData(9, src).ok());
  });
  std::vector<uint8_t> got;
  std::vector<uint8_t> urb(8 << 20);
  while (got.size() < big.size() + kHeader) {
    const long n = f.BulkIn(urb.data(), urb.size());
    if (n < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    got.insert(got.end(), urb.begin(), urb.begin() + n);
  }
  producer.join();
  EXPECT_TRUE(std::equal(big.begin(), big.end(), got.begin() + kHeader));
}

TEST(UsbFunction, DataFromTheHostStreamsIntoTheSinkAndUntakenPhasesAreSkipped) {
  Function f;
  std::vector<uint8_t> payload(70000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  const auto d = DataContainer(op::kSendObject, 11, payload);
  std::thread host([&] {
    for (size_t off = 0; off < d.size(); off += 512) f.BulkOut(d.data() + off, std::min<size_t>(512, d.size() - off));
  });
  BufferSink sink(1 << 20);
  ASSERT_TRUE(f.ReceiveData(11, sink, 1 << 20).ok());
  host.join();
  EXPECT_EQ(sink.bytes(), payload);
  // A refused operation's data phase is skipped before the next command.
  const auto stray = DataContainer(0x9999, 12, std::vector<uint8_t>(3000, 9));
  const auto next = CommandContainer(op::kGetStorageIDs, 13, {});
  f.BulkOut(stray.data(), stray.size());
  f.BulkOut(next.data(), next.size());
  auto cmd = f.ReadCommand();
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd.value().transaction_id, 13u);
  // Too much data, and wrong containers, are errors.
  const auto huge = DataContainer(op::kSendObject, 14, std::vector<uint8_t>(100, 0));
  f.BulkOut(huge.data(), huge.size());
  EXPECT_EQ(f.ReceiveData(14, sink, 10).code(), "PTP_TOO_LARGE");
}

TEST(UsbFunction, CancelAndDisconnectWakeTheSession) {
  Function f(512, 1024);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f.Cancel(1);
  });
  BufferSource src(std::vector<uint8_t>(1 << 20, 0));
  EXPECT_EQ(f.SendData(1, src).code(), "PTP_CANCELLED");
  canceller.join();
  std::thread gone([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f.Disconnect();
  });
  EXPECT_EQ(f.ReadCommand().status().code(), "PTP_CLOSED");
  gone.join();
  ASSERT_TRUE(f.SendEvent(Event{ev::kObjectAdded, 0, {5}}).ok());
  std::vector<uint8_t> e;
  ASSERT_TRUE(f.InterruptIn(&e));
  EXPECT_EQ(e.size(), 16u);
  EXPECT_FALSE(f.InterruptIn(&e));
}

}  // namespace
}  // namespace usb
}  // namespace ptp
}  // namespace camwire
