#include "mount/kernel_mounter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "mount/mountinfo.h"
#include "tests/mount/scratch.h"

namespace nfsprov::mount {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Scratch;
using namespace std::chrono_literals;

NfsMountSpec Spec(std::string server, std::string version, int port = 0, bool read_only = false,
                  std::vector<std::string> options = {}) {
  NfsMountSpec spec;
  spec.server = std::move(server);
  spec.remote_path = "/export/vols/pvc-1";
  spec.nfs_version = std::move(version);
  spec.port = port;
  spec.read_only = read_only;
  spec.options = std::move(options);
  return spec;
}

TEST(KernelMountCommandTest, ExactCommandLines) {
  KernelMounter m;
  EXPECT_THAT(*m.KernelMountCommand(Spec("10.0.0.5", "4"), "/var/lib/k/stage"),
              ElementsAre("mount", "-t", "nfs", "-o", "vers=4", "10.0.0.5:/export/vols/pvc-1",
                          "/var/lib/k/stage"));
  EXPECT_THAT(
      *m.KernelMountCommand(Spec("fd00::5", "4.1", 2049, true, {"hard", "nconnect=4"}), "/t"),
      ElementsAre("mount", "-t", "nfs", "-o", "vers=4.1,port=2049,ro,hard,nconnect=4",
                  "[fd00::5]:/export/vols/pvc-1", "/t"));
  EXPECT_THAT(*m.KernelMountCommand(Spec("nfs.example.com", "3", 0, false,
                                         {"nolock", "mountport=20048", "vers=3", "timeo=600"}),
                                    "/t"),
              ElementsAre("mount", "-t", "nfs", "-o", "vers=3,nolock,mountport=20048,timeo=600",
                          "nfs.example.com:/export/vols/pvc-1", "/t"));
  EXPECT_THAT(*m.KernelMountCommand(Spec("h", "4.2", 0, false, {"ro"}), "/t"),
              ElementsAre("mount", "-t", "nfs", "-o", "vers=4.2,ro", "h:/export/vols/pvc-1", "/t"));
  EXPECT_EQ(KernelMounter("/sbin/mount").KernelMountCommand(Spec("h", "4"), "/t")->front(),
            "/sbin/mount");
}

TEST(KernelMountCommandTest, ConflictsAreRejected) {
  KernelMounter m;
  EXPECT_EQ(m.KernelMountCommand(Spec("h", "4", 0, false, {"vers=3"}), "/t").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(m.KernelMountCommand(Spec("h", "4", 2049, false, {"port=2050"}), "/t").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(m.KernelMountCommand(Spec("h", "4", 0, true, {"rw"}), "/t").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(KernelMounterTest, MatchesByVersionAndSource) {
  KernelMounter m;
  EXPECT_EQ(m.name(), "kernel");
  EXPECT_TRUE(m.Matches(Spec("h", "4.1"), "nfs4", "h:/export/vols/pvc-1"));
  EXPECT_TRUE(m.Matches(Spec("h", "3"), "nfs", "h:/export/vols/pvc-1"));
  EXPECT_TRUE(m.Matches(Spec("::1", "4"), "nfs4", "[::1]:/export/vols/pvc-1"));
  EXPECT_FALSE(m.Matches(Spec("h", "3"), "nfs4", "h:/export/vols/pvc-1"));
  EXPECT_FALSE(m.Matches(Spec("h", "4"), "nfs4", "h:/export/vols/pvc-2"));
  EXPECT_FALSE(m.Matches(Spec("h", "4"), "fuse.nfsprov", "h:/export/vols/pvc-1"));
}

// The kernel client is not available here: a fake mount(8) exercises the runner instead. Its
// mounts are tmpfs, so a test subclass accepts tmpfs as the fstype.
class TmpfsKernelMounter : public KernelMounter {
 public:
  using KernelMounter::KernelMounter;
  bool Matches(const NfsMountSpec& spec, std::string_view fstype,
               std::string_view source) const override {
    return fstype == "tmpfs" && source == MountSource(spec);
  }
};

class FakeMountTest : public ::testing::Test {
 protected:
  std::string Fake(const std::string& body) { return s_.Script("fake-mount", body); }
  Scratch s_;
  std::string target_ = s_.Dir("target");
  std::string args_ = s_.path() + "/args";
};

TEST_F(FakeMountTest, RunsTheProgramWithTheCommandAndVerifiesTheMount) {
  std::string fake =
      Fake("printf '%s\\n' \"$@\" > " + args_ + "\nexec mount -t tmpfs -o size=1m \"$5\" \"$6\"\n");
  TmpfsKernelMounter m(fake, 5s);
  NfsMountSpec spec = Spec("fd00::5", "4.1", 2049, true, {"hard"});
  Status st = m.Mount(spec, target_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::ifstream in(args_);
  std::stringstream args;
  args << in.rdbuf();
  EXPECT_EQ(args.str(), "-t\nnfs\n-o\nvers=4.1,port=2049,ro,hard\n[fd00::5]:/export/vols/pvc-1\n" +
                            target_ + "\n");
  EXPECT_EQ((*FindMountAt(target_))->source, "[fd00::5]:/export/vols/pvc-1");
  EXPECT_TRUE(m.Unmount(target_).ok());
  EXPECT_FALSE(FindMountAt(target_)->has_value());
}

TEST_F(FakeMountTest, FailureCarriesTheOutputAndACode) {
  TmpfsKernelMounter m(Fake("echo 'mount.nfs: access denied by server while mounting h:/x' >&2\n"
                            "exit 32\n"),
                       5s);
  Status st = m.Mount(Spec("h", "4"), target_);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("exited with status 32"));
  EXPECT_THAT(st.message(), HasSubstr("access denied by server"));
  EXPECT_THAT(st.message(), HasSubstr("h:/export/vols/pvc-1"));
}

TEST_F(FakeMountTest, TimeoutKillsItAndUnmountsWhatAppeared) {
  auto start = std::chrono::steady_clock::now();
  TmpfsKernelMounter m(Fake("mount -t tmpfs -o size=1m \"$5\" \"$6\"\necho hanging\n"
                            "sleep 30 & wait\n"),
                       500ms);
  Status st = m.Mount(Spec("h", "4"), target_);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("hanging"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_FALSE(FindMountAt(target_)->has_value());
}

TEST_F(FakeMountTest, SuccessWithoutAMountIsAnError) {
  TmpfsKernelMounter m(Fake("exit 0\n"), 5s);
  Status st = m.Mount(Spec("h", "4"), target_);
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_THAT(st.message(), HasSubstr("mountinfo shows nothing"));
}

TEST_F(FakeMountTest, MissingProgramAndBadOptions) {
  KernelMounter missing(s_.path() + "/no-such-mount", 5s);
  EXPECT_EQ(missing.Mount(Spec("h", "4"), target_).code(), StatusCode::kNotFound);
  KernelMounter m(Fake("exit 0\n"), 5s);
  EXPECT_EQ(m.Mount(Spec("h", "4", 0, false, {"bind"}), target_).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nfsprov::mount
