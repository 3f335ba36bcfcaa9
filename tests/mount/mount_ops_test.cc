#include "mount/mount_ops.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "mount/mountinfo.h"
#include "mount/probe.h"
#include "tests/mount/scratch.h"

namespace nfsprov::mount {
namespace {

using testing::Scratch;
using namespace std::chrono_literals;

std::optional<MountEntry> At(const std::string& target) {
  Result<std::optional<MountEntry>> e = FindMountAt(target);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : std::nullopt;
}

class MountOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = s_.Dir("source");
    target_ = s_.Dir("target");
    ASSERT_NO_FATAL_FAILURE(s_.MountTmpfs(source_, "staged"));
    ASSERT_EQ(Scratch::WriteFile(source_ + "/file", "hello"), 0);
  }
  Scratch s_;
  std::string source_, target_;
};

TEST_F(MountOpsTest, BindMountReadWrite) {
  Status st = BindMount(source_, target_, false);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::optional<MountEntry> e = At(target_);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->source, "staged");
  EXPECT_FALSE(e->read_only);
  EXPECT_EQ(Scratch::WriteFile(target_ + "/new", "x"), 0);
  EXPECT_EQ(access((source_ + "/new").c_str(), F_OK), 0);
}

TEST_F(MountOpsTest, BindMountReadOnlyKeepsTheSourceWritable) {
  // The source's nosuid/nodev must survive the read-only remount (they are repeated).
  ASSERT_EQ(
      ::mount(nullptr, source_.c_str(), nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=1m"), 0);
  Status st = BindMount(source_, target_, true);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::optional<MountEntry> e = At(target_);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->read_only);
  EXPECT_THAT(e->vfs_options, ::testing::HasSubstr("nosuid"));
  EXPECT_THAT(e->vfs_options, ::testing::HasSubstr("nodev"));
  EXPECT_EQ(Scratch::WriteFile(target_ + "/new", "x"), EROFS);
  EXPECT_EQ(Scratch::WriteFile(source_ + "/new", "x"), 0);
  EXPECT_FALSE(At(source_)->read_only);
  // Reading through the read-only bind works.
  EXPECT_EQ(access((target_ + "/file").c_str(), R_OK), 0);
}

TEST_F(MountOpsTest, BindMountOfAMissingSourceFailsAndMountsNothing) {
  Status st = BindMount(s_.path() + "/missing", target_, true);
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_FALSE(At(target_).has_value());
}

TEST_F(MountOpsTest, UnmountIsIdempotent) {
  ASSERT_TRUE(BindMount(source_, target_, true).ok());
  EXPECT_TRUE(Unmount(target_).ok());
  EXPECT_FALSE(At(target_).has_value());
  EXPECT_TRUE(Unmount(target_).ok());
  EXPECT_TRUE(Unmount(s_.path() + "/missing").ok());
  EXPECT_TRUE(Unmount(s_.path() + "/missing/deeper").ok());
  // The source is untouched.
  EXPECT_EQ(At(source_)->source, "staged");
}

TEST_F(MountOpsTest, UnmountRemovesOnlyTheTopMount) {
  ASSERT_TRUE(BindMount(source_, target_, false).ok());
  ASSERT_NO_FATAL_FAILURE(s_.MountTmpfs(target_, "on-top"));
  ASSERT_TRUE(Unmount(target_).ok());
  EXPECT_EQ(At(target_)->source, "staged");
}

TEST_F(MountOpsTest, UnmountAllRemovesStackedMounts) {
  ASSERT_TRUE(BindMount(source_, target_, false).ok());
  ASSERT_TRUE(BindMount(source_, target_, true).ok());
  ASSERT_NO_FATAL_FAILURE(s_.MountTmpfs(target_, "third"));
  Status st = UnmountAll(target_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(At(target_).has_value());
  EXPECT_TRUE(UnmountAll(target_).ok());
}

TEST_F(MountOpsTest, UnmountOfABusyMountDetachesIt) {
  ASSERT_TRUE(BindMount(source_, target_, false).ok());
  int fd = open((target_ + "/file").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Status st = Unmount(target_);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(At(target_).has_value());
  char c;
  EXPECT_EQ(read(fd, &c, 1), 1);  // the open file keeps working after the detach
  close(fd);
}

TEST_F(MountOpsTest, ProbeHealthyAndMissing) {
  ASSERT_TRUE(BindMount(source_, target_, true).ok());
  MountHealth h = ProbeMount(target_, 2s);
  EXPECT_EQ(h.state, MountState::kHealthy) << h.message;
  MountHealth missing = ProbeMount(s_.path() + "/missing", 2s);
  EXPECT_EQ(missing.state, MountState::kError);
  EXPECT_EQ(missing.sys_errno, ENOENT);
  EXPECT_THAT(missing.message, ::testing::HasSubstr("/missing"));
  EXPECT_EQ(MountStateName(MountState::kDisconnected), "disconnected");
}

TEST(MountDirsTest, MakeDirsAndRemoveMountpointDir) {
  Scratch s;
  std::string deep = s.path() + "/a//b/c/";
  ASSERT_TRUE(MakeDirs(deep, 0750).ok());
  ASSERT_TRUE(MakeDirs(deep, 0750).ok());
  struct stat st {};
  ASSERT_EQ(stat((s.path() + "/a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(MakeDirs("relative/x", 0750).code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(Scratch::WriteFile(s.path() + "/file", ""), 0);
  EXPECT_EQ(MakeDirs(s.path() + "/file/x", 0750).code(), StatusCode::kFailedPrecondition);

  std::string c = s.path() + "/a/b/c";
  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(c));
  Status busy = RemoveMountpointDir(c);
  EXPECT_EQ(busy.sys_errno(), EBUSY) << busy.ToString();
  ASSERT_TRUE(Unmount(c).ok());
  EXPECT_EQ(RemoveMountpointDir(s.path() + "/a/b").sys_errno(), ENOTEMPTY);
  EXPECT_TRUE(RemoveMountpointDir(c).ok());
  EXPECT_TRUE(RemoveMountpointDir(c).ok());
  EXPECT_NE(access(c.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace nfsprov::mount
