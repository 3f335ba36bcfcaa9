// CreateVolume and DeleteVolume for classes with locks: "true", against a real nfs-ganesha: the
// lock file in the volume root, what happens without a lock key, clones, and the leases removed
// with the volume.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "lockd/lock_file.h"
#include "lockd/lock_secret.h"
#include "provisioner/controller.h"
#include "provisioner/metadata_store.h"
#include "tests/integration/share_test.h"
#include "tests/support/test_certs.h"

namespace nfsprov {
namespace {

const std::string kKey = "provisioning-test-key-0123456789abcdef";
const std::string kAddress = "lockd.nfsprov.svc:7070";

class LockProvisioningTest : public ShareTest {
 protected:
  void SetUp() override {
    ShareTest::SetUp();
    if (HasFatalFailure()) return;
    ControllerOptions options;
    options.lock_file = [](const std::string& volume_id) {
      lockd::LockKey key = lockd::LockKey::FromBytes(kKey).value();
      return lockd::ToJson({volume_id, kAddress, key.SecretFor(volume_id), ""});
    };
    controller_ = std::make_unique<Controller>(options);
  }

  std::string LockFilePath(const Volume& volume) const {
    return Local(volume.record.path + "/" + std::string(kLockFileName));
  }

  std::unique_ptr<Controller> controller_;
};

TEST_F(LockProvisioningTest, WritesTheLockFileIntoTheVolumeRoot) {
  auto volume = controller_->CreateVolume(Args("pvc-locked", 0, {{"locks", "true"}}));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  const std::string path = LockFilePath(*volume);
  auto file = lockd::LockFileFromJson(testing::ReadWholeFile(path));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->volume_id, volume->id);
  EXPECT_EQ(file->address, kAddress);
  EXPECT_TRUE(lockd::LockKey::FromBytes(kKey)->Verify(volume->id, file->secret));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  // The only entry in the volume: nothing else of the driver's.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(Local(volume->record.path)),
                          std::filesystem::directory_iterator()), 1);

  // A retried CreateVolume puts back a lock file someone removed (over NFS: the server caches).
  auto client = nfs::Client::Connect(share_.Url());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Unlink("/" + volume->record.path + "/" + std::string(kLockFileName)).ok());
  ASSERT_TRUE(controller_->CreateVolume(Args("pvc-locked", 0, {{"locks", "true"}})).ok());
  EXPECT_TRUE(lockd::LockFileFromJson(testing::ReadWholeFile(path)).ok());
}

TEST_F(LockProvisioningTest, OtherVolumesStayEmpty) {
  auto volume = controller_->CreateVolume(Args("pvc-plain", 0, {{"locks", "false"}}));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_TRUE(std::filesystem::is_empty(Local(volume->record.path)));
}

TEST_F(LockProvisioningTest, CloneGetsItsOwnLockFileOrNone) {
  auto source = controller_->CreateVolume(Args("pvc-source", 0, {{"locks", "true"}}));
  ASSERT_TRUE(source.ok()) << source.status().ToString();

  CreateVolumeArgs locked = Args("pvc-clone-locked", 0, {{"locks", "true"}});
  locked.source = {ContentSource::Kind::kVolume, source->id};
  auto clone = controller_->CreateVolume(locked);
  ASSERT_TRUE(clone.ok()) << clone.status().ToString();
  auto file = lockd::LockFileFromJson(testing::ReadWholeFile(LockFilePath(*clone)));
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->volume_id, clone->id);  // not the source's

  CreateVolumeArgs plain = Args("pvc-clone-plain", 0);
  plain.source = {ContentSource::Kind::kVolume, source->id};
  auto unlocked = controller_->CreateVolume(plain);
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(LockFilePath(*unlocked)));  // the source's secret is gone
}

TEST_F(LockProvisioningTest, RefusedWithoutALockKeyOrOnASharedRoot) {
  Controller keyless(ControllerOptions{});
  auto refused = keyless.CreateVolume(Args("pvc-keyless", 0, {{"locks", "true"}}));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--lock-key-file"), std::string::npos);

  auto shared = controller_->CreateVolume(Args("pvc-shared", 0, {{"locks", "true"}, {"sharedRoot", "cache"}}));
  EXPECT_EQ(shared.status().code(), StatusCode::kInvalidArgument);
  auto bad = controller_->CreateVolume(Args("pvc-bad", 0, {{"locks", "yes"}}));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("locks"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(std::filesystem::exists(Local("pvc-keyless")));
  EXPECT_FALSE(std::filesystem::exists(Local("cache")));
}

TEST_F(LockProvisioningTest, DeleteVolumeRemovesItsLeases) {
  auto volume = controller_->CreateVolume(Args("pvc-leases", 0, {{"locks", "true"}}));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  auto other = controller_->CreateVolume(Args("pvc-other", 0, {{"locks", "true"}}));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  // What lockd leaves for a volume's locks (lockd/lease_store.h).
  for (const Volume* v : {&*volume, &*other}) {
    const std::string dir = Local(".nfsprov/locks/" + v->record.key + "/counter");
    std::filesystem::create_directories(dir);
    ASSERT_EQ(::symlink("v1 reserved=1024", (dir + "/tokens").c_str()), 0);
  }
  ASSERT_TRUE(controller_->DeleteVolume(volume->id).ok());
  EXPECT_FALSE(std::filesystem::exists(Local(".nfsprov/locks/" + volume->record.key)));
  EXPECT_TRUE(std::filesystem::is_symlink(Local(".nfsprov/locks/" + other->record.key + "/counter/tokens")));
}

}  // namespace
}  // namespace nfsprov
