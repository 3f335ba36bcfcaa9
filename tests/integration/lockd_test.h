// LockdTest: the fixture of the lock tests: a real nfs-ganesha (ShareTest), a volume record with
// locks: "true" on it, a LockService served in-process on loopback TCP, and a volume directory
// holding the volume's lock file (what CreateVolume writes and a pod sees in its mount).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "csi/endpoint.h"
#include "csi/server.h"
#include "lockd/lock_file.h"
#include "lockd/lock_secret.h"
#include "lockd/lock_service.h"
#include "nfs/client.h"
#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"
#include "provisioner/volume_params.h"
#include "tests/integration/share_test.h"

namespace nfsprov {

class LockdTest : public ShareTest {
 protected:
  void SetUp() override {
    ShareTest::SetUp();
    if (HasFatalFailure()) return;
    auto client = nfs::Client::Connect(server_->Url());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    nfs_client_ = std::shared_ptr<nfs::Client>(std::move(client).value());
    store_ = std::make_unique<MetadataStore>(nfs_client_);
    volume_id_ = PutVolume("pv-locks", {{"locks", "true"}});
    ASSERT_FALSE(volume_id_.empty());

    auto key = lockd::LockKey::FromBytes("0123456789abcdef0123456789abcdef-test-key");
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_ = std::move(key).value();
    StartLockd();
    if (HasFatalFailure()) return;

    volume_dir_ = ::testing::TempDir() + "/lockd-volume-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(volume_dir_);
    std::filesystem::create_directories(volume_dir_);
    std::ofstream(volume_dir_ + "/" + std::string(kLockFileName)) << lockd::ToJson(TestLockFile());
  }

  // A ready volume record `name` (directory `name`) with `parameters`; returns its ID ("" and a
  // test failure when it cannot be written).
  std::string PutVolume(const std::string& name, std::map<std::string, std::string> parameters) {
    VolumeRecord record;
    record.name = name;
    record.key = KeyForName(name);
    record.path = name;
    record.parameters = std::move(parameters);
    record.state = VolumeState::kReady;
    Status put = store_->PutVolume(record);
    EXPECT_TRUE(put.ok()) << put.ToString();
    auto id = EncodeId({ObjectKind::kVolume, share_, record.key});
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return put.ok() && id.ok() ? *id : "";
  }

  void TearDown() override {
    StopLockd();
    if (!volume_dir_.empty()) std::filesystem::remove_all(volume_dir_);
  }

  // lockd on loopback TCP (`port`, or any free one) with options_, plaintext unless
  // `credentials` are given.
  void StartLockd(std::shared_ptr<grpc::ServerCredentials> credentials = nullptr, int port = 0) {
    service_ = std::make_unique<lockd::LockService>(*key_, options_);
    auto endpoint = csi::ParseEndpoint("tcp://127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status().ToString();
    auto lockd = csi::CsiServer::Start(*endpoint, {service_.get()}, std::move(credentials));
    ASSERT_TRUE(lockd.ok()) << lockd.status().ToString();
    lockd_ = std::move(lockd).value();
  }

  void StopLockd() {
    if (lockd_ != nullptr) lockd_->Shutdown(std::chrono::milliseconds(0));
    lockd_.reset();
    service_.reset();
  }

  // The lock file of the test volume, as the controller writes it.
  lockd::LockFile TestLockFile() const {
    return {volume_id_, "127.0.0.1:" + std::to_string(lockd_->bound_port()),
            key_->SecretFor(volume_id_), ""};
  }

  std::shared_ptr<nfs::Client> nfs_client_;  // the test's own, to look at the share
  std::unique_ptr<MetadataStore> store_;
  std::string volume_id_;
  std::optional<lockd::LockKey> key_;
  lockd::LockServiceOptions options_;  // what StartLockd serves with
  std::unique_ptr<lockd::LockService> service_;
  std::unique_ptr<csi::CsiServer> lockd_;
  std::string volume_dir_;
};

}  // namespace nfsprov
