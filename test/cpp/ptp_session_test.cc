// The PTP session layer end to end in C++ (so ASan/UBSan see it): camwire's
// initiator against camwire's responder over PTP/IP on 127.0.0.1, with a
// directory storage in a temp dir.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "ptp/codes.h"
#include "ptp/initiator.h"
#include "ptp/ptpip.h"
#include "ptp/ptpip_server.h"
#include "ptp/storage.h"

namespace camwire {
namespace ptp {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/camwire-ptp-test-XXXXXX";
  return ::mkdtemp(tmpl);
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class PtpSession : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempDir();
    ::mkdir((root_ + "/DCIM").c_str(), 0755);
    std::ofstream(root_ + "/DCIM/IMG_0001.JPG", std::ios::binary) << std::string(5000, 'j');
    std::string big(3 * 1024 * 1024 + 123, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
    std::ofstream(root_ + "/DCIM/BIG.MP4", std::ios::binary) << big;
    storage_.reset(new DirectoryStorage(root_));
    ResponderHooks hooks;
    hooks.upload_target = [this](const std::string& json, const std::string& via) {
      std::lock_guard<std::mutex> lock(mu_);
      targets_.push_back(via + ":" + json);
    };
    responder_.reset(new Responder(*storage_, CameraIdentity(), hooks));
    PtpIpServerOptions o;
    o.port = 0;
    server_.reset(new PtpIpServer(*responder_, *storage_, o, nullptr));
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Stop();
    std::system(("rm -rf " + root_).c_str());
  }
  std::unique_ptr<Initiator> Connect() {
    ptpip::InitCommand me;
    me.name = "gtest";
    auto c = ptpip::InitiatorConnection::Connect("127.0.0.1", server_->port(), me, 2000, nullptr);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return nullptr;
    std::unique_ptr<Initiator> i(new Initiator(std::move(c).value()));
    EXPECT_TRUE(i->OpenSession(1).ok());
    return i;
  }

  std::string root_;
  std::unique_ptr<DirectoryStorage> storage_;
  std::unique_ptr<Responder> responder_;
  std::unique_ptr<PtpIpServer> server_;
  std::mutex mu_;
  std::vector<std::string> targets_;
};

TEST_F(PtpSession, ListsFetchesWholeAndInPiecesAndHandsOverATarget) {
  auto i = Connect();
  ASSERT_TRUE(i);
  auto info = i->GetDeviceInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.value().manufacturer, "camwire");
  auto ids = i->GetStorageIds();
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids.value(), std::vector<uint32_t>{kStorageId});
  auto root = i->GetObjectHandles(kStorageId, kRootParent);
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(root.value().size(), 1u);
  auto dcim = i->GetObjectInfo(root.value()[0]);
  ASSERT_TRUE(dcim.ok());
  EXPECT_EQ(dcim.value().filename, "DCIM");
  EXPECT_EQ(dcim.value().object_format, fmt::kAssociation);
  auto files = i->GetObjectHandles(kStorageId, root.value()[0]);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files.value().size(), 2u);
  for (uint32_t h : files.value()) {
    auto oi = i->GetObjectInfo(h);
    ASSERT_TRUE(oi.ok());
    const std::string want = ReadAll(root_ + "/DCIM/" + oi.value().filename);
    for (bool partial : {false, true}) {
      const std::string dest = root_ + "/copy-" + oi.value().filename;
      ASSERT_TRUE(i->GetObjectToFile(h, oi.value().compressed_size, dest, partial, nullptr).ok());
      EXPECT_EQ(ReadAll(dest), want) << oi.value().filename << (partial ? " in pieces" : " whole");
      ::unlink(dest.c_str());
    }
  }
  EXPECT_EQ(i->GetObjectInfo(0xDEAD).status().code(), "PTP_RESPONSE");
  ASSERT_TRUE(i->SetUploadTarget("{\"version\":1}").ok());
  EXPECT_EQ(i->SetUploadTarget("not json").code(), "PTP_RESPONSE");
  // A ticket file sent as an object is handed over, not stored.
  ObjectInfo ticket;
  ticket.object_format = fmt::kText;
  ticket.filename = "t.camwire.json";
  BufferSource body(std::vector<uint8_t>{'{', '}'});
  ticket.compressed_size = 2;
  ASSERT_TRUE(i->SendObject(kStorageId, kRootParent, ticket, body).ok());
  // A normal file is stored under a sanitised name.
  ObjectInfo photo;
  photo.object_format = fmt::kExifJpeg;
  photo.filename = "../../escape.jpg";
  BufferSource pb(std::vector<uint8_t>(1000, 'p'));
  photo.compressed_size = 1000;
  ASSERT_TRUE(i->SendObject(kStorageId, kRootParent, photo, pb).ok());
  const std::string clean = SanitizeName(photo.filename);
  EXPECT_EQ(clean.find('/'), std::string::npos);
  EXPECT_NE(clean[0], '.');
  struct stat st {};
  EXPECT_EQ(::stat((root_ + "/" + clean).c_str(), &st), 0) << "stored inside the store, renamed to " << clean;
  EXPECT_EQ(st.st_size, 1000);
  ASSERT_TRUE(i->CloseSession().ok());
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(targets_, (std::vector<std::string>{"vendor-op:{\"version\":1}", "ticket:{}"}));
}

TEST_F(PtpSession, ASecondInitiatorIsBusyAndTheNextSessionIsServed) {
  auto first = Connect();
  ASSERT_TRUE(first);
  ptpip::InitCommand me;
  auto second = ptpip::InitiatorConnection::Connect("127.0.0.1", server_->port(), me, 2000, nullptr);
  EXPECT_EQ(second.status().code(), "PTP_BUSY");
  ASSERT_TRUE(first->CloseSession().ok());
  first.reset();
  std::unique_ptr<Initiator> next;
  for (int k = 0; k < 50 && !next; ++k) {
    auto c = ptpip::InitiatorConnection::Connect("127.0.0.1", server_->port(), me, 2000, nullptr);
    if (c.ok())
      next.reset(new Initiator(std::move(c).value()));
    else
      ::usleep(20000);
  }
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->OpenSession(1).ok());
  EXPECT_TRUE(next->GetStorageIds().ok());
}

}  // namespace
}  // namespace ptp
}  // namespace camwire

// Initiators skip Undefined (0x3000) objects when downloading (gphoto2 lists
// but never saves them): every format a camera writes has a code.
TEST(PtpFormats, CommonExtensionsHaveTheirObjectFormat) {
  using camwire::ptp::FormatForName;
  namespace fmt = camwire::ptp::fmt;
  EXPECT_EQ(FormatForName("DSC00001.JPG", false), fmt::kExifJpeg);
  EXPECT_EQ(FormatForName("IMG_0001.HEIC", false), fmt::kUndefinedImage);
  EXPECT_EQ(FormatForName("raw.CR3", false), fmt::kUndefinedImage);
  EXPECT_EQ(FormatForName("photo.bmp", false), fmt::kBmp);
  EXPECT_EQ(FormatForName("clip.mkv", false), fmt::kMtpUndefinedVideo);
  EXPECT_EQ(FormatForName("live.h264", false), fmt::kMtpUndefinedVideo);
  EXPECT_EQ(FormatForName("trailer.mp4", false), fmt::kMp4);
  EXPECT_EQ(FormatForName("voice.aac", false), fmt::kMtpAac);
  EXPECT_EQ(FormatForName("x.camwire.json", false), fmt::kText);
  EXPECT_EQ(FormatForName("DCIM", true), fmt::kAssociation);
  EXPECT_EQ(FormatForName("firmware.bin", false), fmt::kUndefined);
  EXPECT_EQ(FormatForName("noextension", false), fmt::kUndefined);
  EXPECT_EQ(FormatForName("trailing.", false), fmt::kUndefined);
  // DeviceInfo announces every one of them, once each.
  const std::vector<uint16_t> known = camwire::ptp::KnownFormats();
  for (uint16_t f : {fmt::kExifJpeg, fmt::kUndefinedImage, fmt::kMtpUndefinedVideo, fmt::kMp4, fmt::kAssociation, fmt::kUndefined}) {
    EXPECT_EQ(std::count(known.begin(), known.end(), f), 1) << std::hex << f;
  }
}
