#include "mount/mountinfo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/mount/scratch.h"

namespace nfsprov::mount {
namespace {

using testing::Scratch;
using ::testing::HasSubstr;

TEST(ReadMountsTest, SelfHasARootMount) {
  Result<std::vector<MountEntry>> mounts = ReadMounts();
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  bool root = false;
  for (const MountEntry& m : *mounts) root = root || m.target == "/";
  EXPECT_TRUE(root);
}

TEST(ReadMountsTest, RejectsPidsThatAreNotNumbers) {
  for (std::string_view bad : {"", "../1", "1/../self", "-1", "self2"}) {
    EXPECT_EQ(ReadMounts(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ReadMounts("999999999").status().code(), StatusCode::kNotFound);
}

TEST(CanonicalMountpointTest, ResolvesTheParentOnly) {
  Scratch s;
  std::string dir = s.Dir("a/b");
  ASSERT_EQ(symlink((s.path() + "/a").c_str(), (s.path() + "/link").c_str()), 0);
  EXPECT_EQ(*CanonicalMountpoint(s.path() + "/link/b/"), dir);
  EXPECT_EQ(*CanonicalMountpoint(s.path() + "//a/./b"), dir);
  EXPECT_EQ(*CanonicalMountpoint(s.path() + "/a/b/../b"), dir);
  EXPECT_EQ(*CanonicalMountpoint("/"), "/");
  EXPECT_EQ(CanonicalMountpoint("relative").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CanonicalMountpoint(s.path() + "/a/..").status().code(), StatusCode::kInvalidArgument);
}

TEST(FindMountAtTest, UnmountedMountedAndMissing) {
  Scratch s;
  std::string dir = s.Dir("m");
  Result<std::optional<MountEntry>> none = FindMountAt(dir);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(FindMountAt(s.path() + "/missing/deeper")->has_value());

  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(dir, "first-source"));
  Result<std::optional<MountEntry>> found = FindMountAt(dir + "/");
  ASSERT_TRUE(found.ok() && found->has_value());
  const MountEntry& e = **found;
  EXPECT_EQ(e.target, dir);
  EXPECT_EQ(e.fstype, "tmpfs");
  EXPECT_EQ(e.source, "first-source");
  EXPECT_EQ(e.root, "/");
  EXPECT_FALSE(e.read_only);
  EXPECT_GT(e.id, 0);
  EXPECT_THAT(e.fs_options, HasSubstr("size=1024k"));
  // A directory below a mountpoint is not itself one.
  EXPECT_FALSE(FindMountAt(s.Dir("m/sub"))->has_value());
}

TEST(FindMountAtTest, StackedMountsGiveTheTopOne) {
  Scratch s;
  std::string dir = s.Dir("m");
  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(dir, "bottom"));
  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(dir, "middle"));
  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(dir, "top"));
  EXPECT_EQ((*FindMountAt(dir))->source, "top");
}

TEST(FindMountAtTest, SpacesInTheTargetAreUnescaped) {
  Scratch s;
  std::string dir = s.Dir("with space\\and backslash");
  ASSERT_NO_FATAL_FAILURE(s.MountTmpfs(dir, "spaced"));
  Result<std::optional<MountEntry>> found = FindMountAt(dir);
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status().ToString();
  EXPECT_EQ((*found)->target, dir);
}

// A mount made in another mount namespace is visible through that process's mountinfo only.
TEST(FindMountAtTest, ReadsAnotherProcessesNamespace) {
  Scratch s;
  std::string dir = s.Dir("ns");
  std::string ready = s.path() + "/ready";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execlp("unshare", "unshare", "--mount", "--propagation", "private", "sh", "-c",
           ("mount -t tmpfs other-ns \"$0\" && touch \"$1\" && exec sleep 30"), dir.c_str(),
           ready.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (access(ready.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // unshare exec'ed sh in place, which exec'ed sleep: the pid stays the same.
  Result<std::optional<MountEntry>> theirs = FindMountAt(dir, std::to_string(child));
  Result<std::optional<MountEntry>> ours = FindMountAt(dir);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  ASSERT_TRUE(theirs->has_value());
  EXPECT_EQ((*theirs)->source, "other-ns");
  EXPECT_FALSE(ours->has_value());
}

}  // namespace
}  // namespace nfsprov::mount
