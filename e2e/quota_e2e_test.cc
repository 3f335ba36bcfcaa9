// Quotas end to end over the real sockets (docs/quota.md): a volume of a quotaEnforcement=readonly
// class is filled past its capacity through a FUSE mount; its stats and conditions follow the
// usage scans, writes are refused with EROFS (deletes are not), an expansion lets writes back in,
// and the scanner rides through an NFS server restart.
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "e2e/cluster.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kMi = int64_t{1} << 20;

class QuotaE2E : public ClusterTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartCluster({"--usage-interval", "0.3"}));
    StartNode("n1", /*own_mount_namespace=*/false);
    staging_ = dir_ + "/staging";
    target_ = dir_ + "/pod";
    fs::create_directories(staging_);
  }

  ::csi::v1::Volume Mount(const std::string& name, int64_t bytes, const Params& params) {
    ::csi::v1::CreateVolumeRequest request = CreateRequest(name, params);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    ::csi::v1::Volume volume;
    EXPECT_GRPC_OK(Create(request, &volume));
    EXPECT_GRPC_OK(Stage("n1", volume, staging_));
    EXPECT_GRPC_OK(Publish("n1", volume, staging_, target_, /*readonly=*/false));
    return volume;
  }

  ::csi::v1::NodeGetVolumeStatsResponse Stats(const std::string& volume_id) {
    grpc::ClientContext ctx;
    ::csi::v1::NodeGetVolumeStatsRequest request;
    request.set_volume_id(volume_id);
    request.set_volume_path(target_);
    ::csi::v1::NodeGetVolumeStatsResponse response;
    EXPECT_GRPC_OK(NodeStub("n1")->NodeGetVolumeStats(&ctx, request, &response));
    return response;
  }

  // Bytes used, as NodeGetVolumeStats reports them (-1 without a BYTES entry).
  int64_t UsedBytes(const ::csi::v1::NodeGetVolumeStatsResponse& stats) {
    for (const auto& usage : stats.usage())
      if (usage.unit() == ::csi::v1::VolumeUsage::BYTES) return usage.used();
    return -1;
  }

  std::pair<bool, std::string> ControllerCondition(const std::string& volume_id) {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerGetVolumeRequest request;
    request.set_volume_id(volume_id);
    ::csi::v1::ControllerGetVolumeResponse response;
    EXPECT_GRPC_OK(controller_->ControllerGetVolume(&ctx, request, &response));
    const auto& condition = response.status().volume_condition();
    return {condition.abnormal(), condition.message()};
  }

  grpc::Status Expand(const std::string& volume_id, int64_t bytes) {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerExpandVolumeRequest request;
    request.set_volume_id(volume_id);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    ::csi::v1::ControllerExpandVolumeResponse response;
    return controller_->ControllerExpandVolume(&ctx, request, &response);
  }

  void TearDown() override {
    if (!volume_id_.empty()) {
      (void)Unpublish("n1", volume_id_, target_);
      (void)Unstage("n1", volume_id_, staging_);
    }
    ClusterTest::TearDown();
  }

  std::string staging_, target_, volume_id_;
};

TEST_F(QuotaE2E, ReadOnlyEnforcementFollowsUsageAndExpansion) {
  ::csi::v1::Volume volume = Mount("pvc-quota", 4 * kMi, {{"quotaEnforcement", "readonly"}});
  volume_id_ = volume.volume_id();
  ASSERT_TRUE(WriteFile(target_ + "/a", std::string(2 * kMi, 'a')));

  // Stats are the volume's own: its capacity, and what the scanner measured.
  ASSERT_TRUE(WaitFor([&] { return UsedBytes(Stats(volume_id_)) >= 2 * kMi; }));
  ::csi::v1::NodeGetVolumeStatsResponse stats = Stats(volume_id_);
  ASSERT_GE(stats.usage_size(), 1);
  EXPECT_EQ(stats.usage(0).total(), 4 * kMi);
  EXPECT_EQ(stats.usage(0).available(), stats.usage(0).total() - stats.usage(0).used());
  EXPECT_FALSE(stats.volume_condition().abnormal()) << stats.volume_condition().message();

  // Past the quota: within a scan and a poll, new data is refused with EROFS.
  ASSERT_TRUE(WriteFile(target_ + "/b", std::string(3 * kMi, 'b')));
  int error = 0;
  EXPECT_TRUE(WaitFor([&] { return !WriteFile(target_ + "/c", "more", &error) && error == EROFS; }))
      << "writes still accepted; last errno " << error;
  EXPECT_TRUE(WaitFor([&] { return ControllerCondition(volume_id_).first; }));
  EXPECT_NE(ControllerCondition(volume_id_).second.find("over quota"), std::string::npos);
  stats = Stats(volume_id_);
  EXPECT_TRUE(stats.volume_condition().abnormal());
  EXPECT_NE(stats.volume_condition().message().find("over quota"), std::string::npos)
      << stats.volume_condition().message();
  EXPECT_EQ(stats.usage(0).available(), 0);
  EXPECT_EQ(ReadAll(target_ + "/a"), std::string(2 * kMi, 'a')) << "reads go on";
  EXPECT_FALSE(WriteFile(target_ + "/a", "x", &error, O_APPEND)) << "appending adds data";

  // Expansion lifts the quota above usage: writes come back.
  ASSERT_GRPC_OK(Expand(volume_id_, 16 * kMi));
  EXPECT_TRUE(WaitFor([&] { return WriteFile(target_ + "/d", "after expansion"); }));
  EXPECT_TRUE(WaitFor([&] { return !ControllerCondition(volume_id_).first; }));
  EXPECT_EQ(Stats(volume_id_).usage(0).total(), 16 * kMi);

  // Deleting is the other way back: over again, then a delete is allowed and brings writes back.
  ASSERT_TRUE(WriteFile(target_ + "/e", std::string(12 * kMi, 'e')));
  ASSERT_TRUE(WaitFor([&] { return !WriteFile(target_ + "/f", "x", &error) && error == EROFS; }));
  EXPECT_EQ(unlink((target_ + "/e").c_str()), 0) << "deleting is allowed over quota: " << errno;
  EXPECT_TRUE(WaitFor([&] { return WriteFile(target_ + "/f", "room again"); }));
}

TEST_F(QuotaE2E, ReportOnlyClassNeverRefusesWrites) {
  ::csi::v1::Volume volume = Mount("pvc-report", 1 * kMi, {});
  volume_id_ = volume.volume_id();
  ASSERT_TRUE(WriteFile(target_ + "/big", std::string(3 * kMi, 'x')));
  ASSERT_TRUE(WaitFor([&] { return Stats(volume_id_).volume_condition().abnormal(); }));
  EXPECT_TRUE(WriteFile(target_ + "/more", "still writable")) << "report only";
}

TEST_F(QuotaE2E, UsageScansRideThroughAServerRestart) {
  ::csi::v1::Volume volume = Mount("pvc-restart", 64 * kMi, {});
  volume_id_ = volume.volume_id();
  ASSERT_TRUE(WriteFile(target_ + "/one", std::string(1 * kMi, '1')));
  ASSERT_TRUE(WaitFor([&] { return UsedBytes(Stats(volume_id_)) >= 1 * kMi; }));
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return WriteFile(target_ + "/two", std::string(2 * kMi, '2')); }, std::chrono::seconds(60)));
  EXPECT_TRUE(WaitFor([&] { return UsedBytes(Stats(volume_id_)) >= 3 * kMi; }, std::chrono::seconds(60)))
      << "usage never caught up after the restart";
}

}  // namespace
}  // namespace nfsprov::e2e
