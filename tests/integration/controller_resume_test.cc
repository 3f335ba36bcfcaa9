// A CreateVolume that resumes after a crash adopts only what is provably its own or harmless:
// never a foreign directory with data in it.
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "nfs/tree.h"
#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;

class ControllerResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    share_.server = "127.0.0.1";
    share_.share = "/export";
    share_.port = server_->port();
    controller_ = std::make_unique<Controller>(ControllerOptions{});
  }

  CreateVolumeArgs Args(const std::string& name) const {
    CreateVolumeArgs args;
    args.name = name;
    args.parameters = {{"server", "127.0.0.1"}, {"share", "/export"},
                       {"port", std::to_string(server_->port())}};
    return args;
  }

  // What a controller that crashed right after claiming the directory leaves behind.
  void LeaveCrashedCreation(const std::string& name, const std::string& source = "") {
    auto share = controller_->shares().Get(share_);
    ASSERT_TRUE(share.ok()) << share.status().ToString();
    VolumeRecord record;
    record.name = name;
    record.key = KeyForName(name);
    record.path = name;
    record.parameters = Args(name).parameters;
    record.content_source = source;
    record.state = VolumeState::kCreating;
    ASSERT_TRUE(share->store->PutVolume(record).ok());
    auto owner = share->store->Claim(record.path, record.key);
    ASSERT_TRUE(owner.ok() && *owner == record.key);
  }

  std::string Local(const std::string& rel) const { return server_->export_dir() + "/" + rel; }

  std::unique_ptr<testing::GaneshaServer> server_;
  ShareRef share_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(ControllerResumeTest, AdoptsAnEmptyDirectory) {
  LeaveCrashedCreation("pv-empty");
  fs::create_directory(Local("pv-empty"));
  auto volume = controller_->CreateVolume(Args("pv-empty"));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_EQ(volume->record.state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, RefusesAnEmptyDirectoryOlderThanItsRecord) {
  fs::create_directory(Local("pv-older"));  // someone's empty directory, there before the volume
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  LeaveCrashedCreation("pv-older");
  EXPECT_EQ(controller_->CreateVolume(Args("pv-older")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::is_directory(Local("pv-older")));
}

TEST_F(ControllerResumeTest, RefusesAForeignDirectoryWithData) {
  LeaveCrashedCreation("pv-foreign");
  fs::create_directory(Local("pv-foreign"));
  std::ofstream(Local("pv-foreign/precious")) << "not ours";
  auto volume = controller_->CreateVolume(Args("pv-foreign"));
  EXPECT_EQ(volume.status().code(), StatusCode::kAlreadyExists) << volume.status().ToString();
  EXPECT_TRUE(fs::exists(Local("pv-foreign/precious")));
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  auto record = share->store->GetVolume(KeyForName("pv-foreign"));
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_value()) << "the refused volume's record was left behind";
}

TEST_F(ControllerResumeTest, CopiesOnlyOverItsOwnPartialCopy) {
  auto source = controller_->CreateVolume(Args("pv-src"));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  std::ofstream(Local("pv-src/data")) << "source data";
  std::string content_source = "volume:" + source->id;

  // A partial copy (the copy engine's staging directory is still inside): redone from scratch.
  LeaveCrashedCreation("pv-partial", content_source);
  fs::create_directories(Local("pv-partial/") + std::string(nfs::kCopyStagingPrefix) + "0123");
  std::ofstream(Local("pv-partial/half")) << "half-copied";
  CreateVolumeArgs partial = Args("pv-partial");
  partial.source = {ContentSource::Kind::kVolume, source->id};
  auto resumed = controller_->CreateVolume(partial);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_FALSE(fs::exists(Local("pv-partial/half")));
  EXPECT_TRUE(fs::exists(Local("pv-partial/data")));

  // Anything else there is not ours: left alone.
  LeaveCrashedCreation("pv-other", content_source);
  fs::create_directory(Local("pv-other"));
  std::ofstream(Local("pv-other/precious")) << "not ours";
  CreateVolumeArgs other = Args("pv-other");
  other.source = {ContentSource::Kind::kVolume, source->id};
  EXPECT_EQ(controller_->CreateVolume(other).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(Local("pv-other/precious")));
}

}  // namespace
}  // namespace nfsprov
