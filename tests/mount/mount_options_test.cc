#include "mount/mount_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nfsprov::mount {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

NfsMountSpec Spec(std::string version, std::vector<std::string> options = {}, int port = 0,
                  bool read_only = false) {
  NfsMountSpec spec;
  spec.server = "nfs.example.com";
  spec.remote_path = "/export/vols/a";
  spec.nfs_version = std::move(version);
  spec.options = std::move(options);
  spec.port = port;
  spec.read_only = read_only;
  return spec;
}

TEST(ParseMountOptionsTest, AcceptsFlagsAndValues) {
  Result<std::vector<std::string>> parsed =
      ParseMountOptions("hard,nconnect=4,sec=sys,clientaddr=fe80::1,lookupcache=none,timeo=600");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_THAT(*parsed, ElementsAre("hard", "nconnect=4", "sec=sys", "clientaddr=fe80::1",
                                   "lookupcache=none", "timeo=600"));
  EXPECT_TRUE(ParseMountOptions("")->empty());
}

TEST(ParseMountOptionsTest, RejectsEmptyItems) {
  for (std::string_view bad : {",", "hard,", ",hard", "hard,,soft"}) {
    Result<std::vector<std::string>> parsed = ParseMountOptions(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("empty item"));
  }
}

TEST(ParseMountOptionsTest, RejectsUnsafeCharactersAndShapes) {
  for (std::string_view bad : {"hard ", " hard", "timeo= 1", "a\tb", "ha\nrd", "sec=\"sys\"",
                               "sec='sys'", "a\\b", "timeo=", "=1", "Hard", "1hard", "a=b=c",
                               "x-mount.mkdir", "make-shared", "_netdev", "a;b", "a$b",
                               "a=$(id)", "a=`id`"}) {
    EXPECT_FALSE(ParseMountOptions(bad).ok()) << bad;
  }
  std::string nul("ha\0rd", 5);
  EXPECT_FALSE(ParseMountOptions(nul).ok());
  EXPECT_FALSE(ParseMountOptions("a=" + std::string(300, 'b')).ok());
}

TEST(ParseMountOptionsTest, RejectsMountDirectives) {
  for (std::string_view bad : {"bind", "rbind", "move", "remount", "loop", "helper=x", "user",
                               "users", "owner", "group", "offset=1", "sizelimit=2"}) {
    Result<std::vector<std::string>> parsed = ParseMountOptions(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("mount(8) directive"));
  }
}

TEST(MergeKernelMountOptionsTest, SpecOnly) {
  EXPECT_THAT(*MergeKernelMountOptions(Spec("4")), ElementsAre("vers=4"));
  EXPECT_THAT(*MergeKernelMountOptions(Spec("4.1", {}, 2049, true)),
              ElementsAre("vers=4.1", "port=2049", "ro"));
  EXPECT_THAT(*MergeKernelMountOptions(Spec("3", {}, 20490)), ElementsAre("vers=3", "port=20490"));
}

TEST(MergeKernelMountOptionsTest, UserOptionsFollowInOrderAndDuplicatesCollapse) {
  Result<std::vector<std::string>> merged = MergeKernelMountOptions(
      Spec("4.2", {"hard", "nconnect=4", "hard", "nfsvers=4.2", "vers=4.2", "minorversion=2",
                   "ro", "port=2049"},
           2049, true));
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_THAT(*merged, ElementsAre("vers=4.2", "port=2049", "ro", "hard", "nconnect=4"));
}

TEST(MergeKernelMountOptionsTest, VersionAliases) {
  EXPECT_THAT(*MergeKernelMountOptions(Spec("3", {"v3"})), ElementsAre("vers=3"));
  EXPECT_THAT(*MergeKernelMountOptions(Spec("4", {"v4"})), ElementsAre("vers=4"));
  EXPECT_FALSE(MergeKernelMountOptions(Spec("4.1", {"v4"})).ok());
  EXPECT_FALSE(MergeKernelMountOptions(Spec("4", {"minorversion=1"})).ok());
}

TEST(MergeKernelMountOptionsTest, UserRoWithoutReadOnlyIsKept) {
  EXPECT_THAT(*MergeKernelMountOptions(Spec("4", {"ro"})), ElementsAre("vers=4", "ro"));
  EXPECT_THAT(*MergeKernelMountOptions(Spec("4", {"rw"})), ElementsAre("vers=4", "rw"));
}

TEST(MergeKernelMountOptionsTest, UserPortWithoutSpecPortIsKept) {
  EXPECT_THAT(*MergeKernelMountOptions(Spec("3", {"port=2050", "mountport=20048"})),
              ElementsAre("vers=3", "port=2050", "mountport=20048"));
}

TEST(MergeKernelMountOptionsTest, ContradictionsNameBothSides) {
  struct Case {
    NfsMountSpec spec;
    std::string user;
    std::string other;
  };
  std::vector<Case> cases = {
      {Spec("4", {"vers=3"}), "\"vers=3\"", "nfsVersion 4"},
      {Spec("4.1", {"nfsvers=4.2"}), "\"nfsvers=4.2\"", "nfsVersion 4.1"},
      {Spec("4", {"v3"}), "\"v3\"", "nfsVersion 4"},
      {Spec("4", {"port=2050"}, 2049), "\"port=2050\"", "port 2049"},
      {Spec("4", {"rw"}, 0, true), "\"rw\"", "readOnly"},
      {Spec("4", {"timeo=10", "timeo=20"}), "\"timeo=20\"", "\"timeo=10\""},
      {Spec("4", {"ro", "rw"}), "\"rw\"", "\"ro\""},
  };
  for (const Case& c : cases) {
    Result<std::vector<std::string>> merged = MergeKernelMountOptions(c.spec);
    ASSERT_FALSE(merged.ok()) << c.user;
    EXPECT_EQ(merged.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(merged.status().message(), HasSubstr(c.user));
    EXPECT_THAT(merged.status().message(), HasSubstr(c.other));
  }
}

TEST(MergeKernelMountOptionsTest, RejectsBadSpecAndBadUserOptions) {
  EXPECT_FALSE(MergeKernelMountOptions(Spec("5")).ok());
  EXPECT_FALSE(MergeKernelMountOptions(Spec("")).ok());
  EXPECT_FALSE(MergeKernelMountOptions(Spec("4", {}, 70000)).ok());
  EXPECT_FALSE(MergeKernelMountOptions(Spec("4", {"hard,soft"})).ok());
  EXPECT_FALSE(MergeKernelMountOptions(Spec("4", {"bind"})).ok());
}

TEST(JoinMountOptionsTest, Joins) {
  EXPECT_EQ(JoinMountOptions({}), "");
  EXPECT_EQ(JoinMountOptions({"a", "b=c"}), "a,b=c");
}

}  // namespace
}  // namespace nfsprov::mount
