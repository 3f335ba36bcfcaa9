// ShareTest: the fixture of the integration tests that drive the provisioner against a real
// export: a fresh nfs-ganesha per test, the ShareRef of its export, the StorageClass parameters
// that name it, and its local directory. Derived fixtures call ShareTest::SetUp() first and stop
// when it failed (HasFatalFailure()).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov {

class ShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    share_.server = "127.0.0.1";
    share_.share = "/export";
    share_.port = server_->port();
  }

  // A CreateVolume of `name` (`bytes` required, 0: none) on share_, with `extra` parameters.
  CreateVolumeArgs Args(const std::string& name, int64_t bytes = 0,
                        const std::map<std::string, std::string>& extra = {}) const {
    CreateVolumeArgs args;
    args.name = name;
    args.capacity.required_bytes = bytes;
    args.parameters = {{"server", share_.server}, {"share", share_.share}, {"port", std::to_string(share_.port)}};
    for (const auto& [k, v] : extra) args.parameters[k] = v;
    return args;
  }

  // `rel` in the export's local directory.
  std::string Local(const std::string& rel) const { return server_->export_dir() + "/" + rel; }

  std::unique_ptr<testing::GaneshaServer> server_;
  ShareRef share_;
};

}  // namespace nfsprov
