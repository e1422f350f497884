#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace camwire {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void Put(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class ReplaceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/camwire-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0); }
  std::string dir_;
};

TEST_F(ReplaceFileTest, ReplacesAnOldFileAndCreatesANewOne) {
  const std::string out = dir_ + "/out.mkv", temp = dir_ + "/out.mkv.tmp";
  Put(out, "old bytes");
  Put(temp, "new");
  ASSERT_EQ(ReplaceFile(temp, out), 0);
  EXPECT_EQ(Slurp(out), "new");
  EXPECT_FALSE(Exists(temp));
  // Nothing there before: the temporary just takes the name.
  const std::string fresh = dir_ + "/fresh.mkv";
  Put(temp, "first");
  ASSERT_EQ(ReplaceFile(temp, fresh), 0);
  EXPECT_EQ(Slurp(fresh), "first");
}

TEST_F(ReplaceFileTest, ASymlinkIsReplacedNotFollowed) {
  const std::string target = dir_ + "/target", link = dir_ + "/link", temp = dir_ + "/link.tmp";
  Put(target, "kept");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  Put(temp, "new");
  ASSERT_EQ(ReplaceFile(temp, link), 0);
  EXPECT_EQ(Slurp(target), "kept");  // as rename() over a link would leave it
  EXPECT_EQ(Slurp(link), "new");
}

TEST_F(ReplaceFileTest, ADirectoryOrAMissingTemporaryIsAnErrorThatLosesNothing) {
  const std::string sub = dir_ + "/sub", temp = dir_ + "/sub.tmp";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  Put(sub + "/inside", "x");
  Put(temp, "new");
  EXPECT_NE(ReplaceFile(temp, sub), 0);
  EXPECT_EQ(Slurp(sub + "/inside"), "x");
  EXPECT_EQ(Slurp(temp), "new");  // the caller still has it (and removes it)
  const std::string out = dir_ + "/out";
  Put(out, "old");
  EXPECT_EQ(ReplaceFile(dir_ + "/missing.tmp", out), ENOENT);
  EXPECT_EQ(Slurp(out), "old");
}

}  // namespace
}  // namespace camwire
