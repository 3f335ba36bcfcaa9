// ClusterTest: the fixture the end-to-end suites share, a cluster in one process. A real
// nfs-ganesha, a scratch directory, the real `nfsprov controller` over its socket and any number
// of `nfsprov node` plugins with the FUSE mounter, plus the CSI calls the sidecars and kubelet
// make (each with a 60 s deadline). Alongside it, the file and polling helpers they all use.
#pragma once

#include <fcntl.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/wait_for.h"

#define ASSERT_GRPC_OK(call)                                               \
  do {                                                                     \
    grpc::Status status_ = (call);                                         \
    ASSERT_TRUE(status_.ok()) << #call << ": " << status_.error_message(); \
  } while (0)
#define EXPECT_GRPC_OK(call)                                               \
  do {                                                                     \
    grpc::Status status_ = (call);                                         \
    EXPECT_TRUE(status_.ok()) << #call << ": " << status_.error_message(); \
  } while (0)

namespace nfsprov::e2e {

using Mode = ::csi::v1::VolumeCapability::AccessMode::Mode;
using Params = std::map<std::string, std::string>;

inline constexpr Mode kWriter = ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER;
inline constexpr Mode kReader = ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;

// A mount capability with access mode `mode`.
::csi::v1::VolumeCapability Capability(Mode mode = kWriter);

// The whole file ("" when it cannot be read).
std::string ReadAll(const std::string& path);

// Writes `data` to `path`, created 0644 and opened with O_WRONLY | O_CREAT | `flags`. False when
// any step failed; then *error (if given) is its errno, else 0.
bool WriteFile(const std::string& path, const std::string& data, int* error = nullptr,
               int flags = O_TRUNC);

// Every path under `root`, relative and sorted, one a line, not descending into the directories
// named (relative to `root`) in `skip`.
std::string Listing(const std::string& root, const std::set<std::string>& skip = {});

using testing::WaitFor;

// The lines of /proc/<pid>/mountinfo whose mount point (field 5) starts with `prefix`.
std::vector<std::string> MountsUnder(const std::string& prefix, const std::string& pid = "self");

class ClusterTest : public ::testing::Test {
 protected:
  // Starts nfs-ganesha, makes a fresh dir_ and starts `nfsprov controller --share <export>
  // --nfs-timeout 5 <controller_flags>` on dir_/controller.sock. Call it (under
  // ASSERT_NO_FATAL_FAILURE) from SetUp.
  void StartCluster(const std::vector<std::string>& controller_flags);

  // Stops the node plugins and the controller, unmounts what is left mounted below dir_ in this
  // mount namespace and removes dir_.
  void TearDown() override;

  // Kills the controller and starts it again with a fresh controller_; with `crash_at`, armed
  // (NFSPROV_CRASH_AT) to SIGKILL itself there.
  void RestartController(const std::string& crash_at = "");

  // Starts node plugin `name` (node ID `name`, state in dir_/name/state, socket dir_/name.sock).
  // own_mount_namespace: its mounts are its own, as on another machine (see DriverProcess);
  // extra_args: more flags for `nfsprov node`.
  void StartNode(const std::string& name, bool own_mount_namespace = true,
                 std::vector<std::string> extra_args = {});
  std::unique_ptr<::csi::v1::Node::Stub> NodeStub(const std::string& name) const;

  // The parameters of a class on this server's `share`.
  Params BaseParams(const std::string& share = "/export") const;
  // A CreateVolume request for `name` with one mount capability of `mode` and BaseParams()
  // overridden and extended by `params`.
  ::csi::v1::CreateVolumeRequest CreateRequest(const std::string& name, const Params& params = {},
                                               Mode mode = kWriter) const;
  grpc::Status Create(const ::csi::v1::CreateVolumeRequest& request, ::csi::v1::Volume* out = nullptr);
  // A volume that must be created; the test fails (and carries on) otherwise.
  ::csi::v1::Volume MustCreate(const std::string& name, const Params& params = {}, Mode mode = kWriter);
  grpc::Status Delete(const std::string& volume_id);
  // A static volume (a PV written by hand, no controller involved): ID `volume_id`, its context
  // BaseParams() and `context`.
  ::csi::v1::Volume StaticVolume(const std::string& volume_id, const Params& context) const;

  // The node calls, on node plugin `node`, for volume `v` as CreateVolume returned it.
  grpc::Status Stage(const std::string& node, const ::csi::v1::Volume& v, const std::string& staging,
                     Mode mode = kWriter);
  grpc::Status Publish(const std::string& node, const ::csi::v1::Volume& v, const std::string& staging,
                       const std::string& target, bool readonly, Mode mode = kWriter);
  grpc::Status Unpublish(const std::string& node, const std::string& volume_id, const std::string& target);
  grpc::Status Unstage(const std::string& node, const std::string& volume_id, const std::string& staging);

  // `rel` in the export's local directory.
  std::string Local(const std::string& rel) const { return server_->export_dir() + "/" + rel; }

  // Stages `v` on `node` and publishes it into a new pod directory, as kubelet does for a pod;
  // returns the pod's view of the volume (through the node's root), "" when a call failed.
  // TearDown unpublishes and unstages whatever is still mounted this way.
  std::string MountInPod(const std::string& node, const ::csi::v1::Volume& v, bool readonly = false,
                         Mode mode = kWriter);
  // The pod is gone: unpublish and unstage what MountInPod returned `pod_path` for.
  void UnmountPod(const std::string& pod_path);
  void UnmountAll();

  std::unique_ptr<testing::GaneshaServer> server_;
  std::string dir_;
  std::unique_ptr<DriverProcess> controller_process_;
  std::unique_ptr<::csi::v1::Controller::Stub> controller_;
  std::map<std::string, std::unique_ptr<DriverProcess>> nodes_;

 private:
  struct PodMount {
    std::string node, volume_id, staging, target;
  };
  std::vector<PodMount> mounts_;
  int mounts_made_ = 0;
};

}  // namespace nfsprov::e2e
