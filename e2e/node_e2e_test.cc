// End to end for `nfsprov node` with the FUSE mounter: the real controller and node binaries over
// their sockets, a real nfs-ganesha, real mounts. Mount state is always checked in mountinfo.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;

#define ASSERT_GRPC_OK(call)                                                  \
  do {                                                                        \
    grpc::Status status_ = (call);                                            \
    ASSERT_TRUE(status_.ok()) << #call << ": " << status_.error_message();    \
  } while (0)
#define EXPECT_GRPC_OK(call)                                                  \
  do {                                                                        \
    grpc::Status status_ = (call);                                            \
    EXPECT_TRUE(status_.ok()) << #call << ": " << status_.error_message();    \
  } while (0)
using ::csi::v1::VolumeCapability;
using Mode = VolumeCapability::AccessMode::Mode;

// Mount points below `prefix` in /proc/<pid>/mountinfo (field 5 is the mount point).
std::vector<std::string> MountsUnder(const std::string& prefix, const std::string& pid = "self") {
  std::ifstream in("/proc/" + pid + "/mountinfo");
  std::vector<std::string> found;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, target;
    fields >> id >> parent >> devno >> root >> target;
    if (target.rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& data, int* error = nullptr) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    if (error != nullptr) *error = errno;
    return false;
  }
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  if (error != nullptr) *error = ok ? 0 : errno;
  return ::close(fd) == 0 && ok;
}

// A child process that holds an fcntl write lock on `path` until killed. Returns its pid once
// the lock is held (-1 if it could not take it).
pid_t HoldWriteLock(const std::string& path) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    int fd = ::open(path.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char ok = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? '1' : '0';
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char ok = '0';
  (void)!read(ready[0], &ok, 1);
  close(ready[0]);
  if (ok != '1') {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

// Tries F_SETLK (or F_SETLKW, bounded by `wait`) on `path` from a child process; returns 0 when
// granted, the errno otherwise (EINTR when a blocking attempt was still waiting at the deadline).
int TryWriteLock(const std::string& path, bool blocking, std::chrono::milliseconds wait) {
  int result[2];
  if (pipe(result) != 0) return errno;
  pid_t pid = fork();
  if (pid == 0) {
    close(result[0]);
    int fd = ::open(path.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    int err = fd < 0 ? errno : (fcntl(fd, blocking ? F_SETLKW : F_SETLK, &lock) == 0 ? 0 : errno);
    (void)!write(result[1], &err, sizeof err);
    _exit(0);
  }
  close(result[1]);
  struct timeval tv {};
  tv.tv_sec = wait.count() / 1000;
  tv.tv_usec = (wait.count() % 1000) * 1000;
  fd_set set;
  FD_ZERO(&set);
  FD_SET(result[0], &set);
  int err = EINTR;
  if (select(result[0] + 1, &set, nullptr, nullptr, &tv) == 1) (void)!read(result[0], &err, sizeof err);
  close(result[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return err;
}

class NodeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    dir_ = fs::temp_directory_path() / ("nfsprov-node-e2e-" + std::to_string(getpid()) + "-" +
                                         std::to_string(counter_++));
    fs::create_directories(dir_);
    auto controller = DriverProcess::Start(
        {"controller", "--share", server_->Url(), "--nfs-timeout", "5"}, dir_ + "/controller.sock");
    ASSERT_TRUE(controller.ok()) << controller.status().ToString();
    controller_process_ = std::move(controller).value();
    controller_ = ::csi::v1::Controller::NewStub(controller_process_->Channel());
    StartNode("a");
  }

  void TearDown() override {
    for (auto& [name, process] : nodes_) process.reset();
    // Whatever a failed test left mounted (FUSE daemons exit once unmounted).
    for (int round = 0; round < 5 && !MountsUnder(dir_).empty(); ++round) {
      for (const std::string& line : MountsUnder(dir_)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, target;
        fields >> id >> parent >> devno >> root >> target;
        umount2(target.c_str(), MNT_DETACH);
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void StartNode(const std::string& name, bool own_namespace = false) {
    fs::create_directories(dir_ + "/state-" + name);
    auto node = DriverProcess::Start({"node", "--node-id", "node-" + name, "--mounter", "fuse",
                                      "--state-dir", dir_ + "/state-" + name},
                                     dir_ + "/node-" + name + ".sock", own_namespace);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    nodes_[name] = std::move(node).value();
  }

  std::unique_ptr<::csi::v1::Node::Stub> NodeStub(const std::string& name) {
    return ::csi::v1::Node::NewStub(nodes_[name]->Channel());
  }

  ::csi::v1::Volume CreateVolume(const std::string& name) {
    ::csi::v1::CreateVolumeRequest r;
    r.set_name(name);
    *r.add_volume_capabilities() = Capability(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
    (*r.mutable_parameters())["server"] = "127.0.0.1";
    (*r.mutable_parameters())["share"] = "/export";
    (*r.mutable_parameters())["port"] = std::to_string(server_->port());
    grpc::ClientContext ctx;
    ::csi::v1::CreateVolumeResponse response;
    grpc::Status s = controller_->CreateVolume(&ctx, r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.volume();
  }

  grpc::Status DeleteVolume(const std::string& id) {
    ::csi::v1::DeleteVolumeRequest r;
    r.set_volume_id(id);
    grpc::ClientContext ctx;
    ::csi::v1::DeleteVolumeResponse response;
    return controller_->DeleteVolume(&ctx, r, &response);
  }

  static VolumeCapability Capability(Mode mode) {
    VolumeCapability c;
    c.mutable_mount();
    c.mutable_access_mode()->set_mode(mode);
    return c;
  }

  grpc::Status Stage(const std::string& node, const ::csi::v1::Volume& v, const std::string& staging,
                     Mode mode = VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER) {
    ::csi::v1::NodeStageVolumeRequest r;
    r.set_volume_id(v.volume_id());
    r.set_staging_target_path(staging);
    *r.mutable_volume_capability() = Capability(mode);
    *r.mutable_volume_context() = v.volume_context();
    grpc::ClientContext ctx;
    ::csi::v1::NodeStageVolumeResponse response;
    return NodeStub(node)->NodeStageVolume(&ctx, r, &response);
  }

  grpc::Status Unstage(const std::string& node, const std::string& id, const std::string& staging) {
    ::csi::v1::NodeUnstageVolumeRequest r;
    r.set_volume_id(id);
    r.set_staging_target_path(staging);
    grpc::ClientContext ctx;
    ::csi::v1::NodeUnstageVolumeResponse response;
    return NodeStub(node)->NodeUnstageVolume(&ctx, r, &response);
  }

  grpc::Status Publish(const std::string& node, const ::csi::v1::Volume& v,
                       const std::string& staging, const std::string& target, bool readonly,
                       Mode mode = VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER) {
    ::csi::v1::NodePublishVolumeRequest r;
    r.set_volume_id(v.volume_id());
    r.set_staging_target_path(staging);
    r.set_target_path(target);
    r.set_readonly(readonly);
    *r.mutable_volume_capability() = Capability(mode);
    *r.mutable_volume_context() = v.volume_context();
    grpc::ClientContext ctx;
    ::csi::v1::NodePublishVolumeResponse response;
    return NodeStub(node)->NodePublishVolume(&ctx, r, &response);
  }

  grpc::Status Unpublish(const std::string& node, const std::string& id, const std::string& target) {
    ::csi::v1::NodeUnpublishVolumeRequest r;
    r.set_volume_id(id);
    r.set_target_path(target);
    grpc::ClientContext ctx;
    ::csi::v1::NodeUnpublishVolumeResponse response;
    return NodeStub(node)->NodeUnpublishVolume(&ctx, r, &response);
  }

  grpc::Status Stats(const std::string& node, const std::string& id, const std::string& path,
                     ::csi::v1::NodeGetVolumeStatsResponse* response) {
    ::csi::v1::NodeGetVolumeStatsRequest r;
    r.set_volume_id(id);
    r.set_volume_path(path);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return NodeStub(node)->NodeGetVolumeStats(&ctx, r, response);
  }

  static inline int counter_ = 0;
  std::unique_ptr<testing::GaneshaServer> server_;
  std::string dir_;
  std::unique_ptr<DriverProcess> controller_process_;
  std::unique_ptr<::csi::v1::Controller::Stub> controller_;
  std::map<std::string, std::unique_ptr<DriverProcess>> nodes_;
};

TEST_F(NodeE2E, CapabilitiesAndInfo) {
  grpc::ClientContext ctx;
  ::csi::v1::NodeGetCapabilitiesResponse caps;
  ASSERT_TRUE(NodeStub("a")->NodeGetCapabilities(&ctx, {}, &caps).ok());
  std::set<int> types;
  for (const auto& c : caps.capabilities()) types.insert(c.rpc().type());
  EXPECT_EQ(types, (std::set<int>{::csi::v1::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME,
                                  ::csi::v1::NodeServiceCapability::RPC::GET_VOLUME_STATS,
                                  ::csi::v1::NodeServiceCapability::RPC::VOLUME_CONDITION,
                                  ::csi::v1::NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER}));
  grpc::ClientContext info_ctx;
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_TRUE(NodeStub("a")->NodeGetInfo(&info_ctx, {}, &info).ok());
  EXPECT_EQ(info.node_id(), "node-a");
  EXPECT_EQ(info.max_volumes_per_node(), 0);
  EXPECT_FALSE(info.has_accessible_topology());
}

TEST_F(NodeE2E, LifecycleReadWriteAndReadOnlyPublishes) {
  ::csi::v1::Volume v = CreateVolume("pvc-life");
  const std::string staging = dir_ + "/staging", rw = dir_ + "/pod-rw", ro = dir_ + "/pod-ro";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("a", v, staging));
  ASSERT_GRPC_OK(Stage("a", v, staging));  // a repeated stage succeeds
  ASSERT_GRPC_OK(Publish("a", v, staging, rw, false));
  ASSERT_GRPC_OK(Publish("a", v, staging, ro, true));
  ASSERT_GRPC_OK(Publish("a", v, staging, ro, true));  // a repeated publish succeeds
  EXPECT_EQ(MountsUnder(dir_).size(), 3u);

  ASSERT_TRUE(WriteFile(rw + "/hello.txt", "written through rw"));
  EXPECT_EQ(ReadAll(ro + "/hello.txt"), "written through rw");
  EXPECT_EQ(ReadAll(server_->export_dir() + "/pvc-life/hello.txt"), "written through rw");
  int error = 0;
  EXPECT_FALSE(WriteFile(ro + "/nope.txt", "x", &error));
  EXPECT_EQ(error, EROFS);

  // The same target asked for read-write is a different mount: ALREADY_EXISTS.
  EXPECT_EQ(Publish("a", v, staging, ro, false).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("a", v.volume_id(), rw, &stats));
  EXPECT_FALSE(stats.volume_condition().abnormal());
  ASSERT_EQ(stats.usage_size(), 2);
  EXPECT_GT(stats.usage(0).total(), 0);

  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), rw));
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), ro));
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), ro));  // a repeated unpublish succeeds
  EXPECT_FALSE(fs::exists(rw));
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging));
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging));  // a repeated unstage succeeds
  EXPECT_TRUE(MountsUnder(dir_).empty()) << MountsUnder(dir_)[0];
  EXPECT_GRPC_OK(DeleteVolume(v.volume_id()));
}

TEST_F(NodeE2E, ReaderOnlyAccessModeMountsReadOnly) {
  ::csi::v1::Volume v = CreateVolume("pvc-reader");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  const Mode reader = VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
  ASSERT_GRPC_OK(Stage("a", v, staging, reader));
  ASSERT_GRPC_OK(Publish("a", v, staging, target, false, reader));
  int error = 0;
  EXPECT_FALSE(WriteFile(target + "/x", "x", &error));
  EXPECT_EQ(error, EROFS);
  EXPECT_FALSE(WriteFile(staging + "/x", "x", &error)) << "the staging mount is read-only too";
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), target));
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, BadRequestsGetClearErrorsAndTouchNothing) {
  ::csi::v1::Volume v = CreateVolume("pvc-bad");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  // Publish before stage.
  grpc::Status s = Publish("a", v, staging, target, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  // A typo in a static volume's attributes must not mount the whole export.
  ::csi::v1::Volume typo = v;
  (*typo.mutable_volume_context())["subdir"] = "x";
  s = Stage("a", typo, staging);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("subdir"), std::string::npos) << s.error_message();
  // Escaping the export.
  ::csi::v1::Volume escape = v;
  (*escape.mutable_volume_context())["subDir"] = "../etc";
  EXPECT_EQ(Stage("a", escape, staging).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Relative paths, missing IDs and capabilities.
  EXPECT_EQ(Stage("a", v, "relative/path").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ::csi::v1::NodeStageVolumeRequest no_cap;
  no_cap.set_volume_id(v.volume_id());
  no_cap.set_staging_target_path(staging);
  *no_cap.mutable_volume_context() = v.volume_context();
  grpc::ClientContext ctx;
  ::csi::v1::NodeStageVolumeResponse response;
  EXPECT_EQ(NodeStub("a")->NodeStageVolume(&ctx, no_cap, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish("a", "", target).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A staging path already mounted from something else.
  ASSERT_EQ(mount("tmpfs", staging.c_str(), "tmpfs", 0, nullptr), 0);
  s = Stage("a", v, staging);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  ASSERT_EQ(umount(staging.c_str()), 0);
  // Unpublish/unstage of what is not there succeed.
  EXPECT_GRPC_OK(Unpublish("a", v.volume_id(), dir_ + "/never"));
  EXPECT_GRPC_OK(Unstage("a", v.volume_id(), dir_ + "/never"));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, StaticVolumeWithoutTheController) {
  fs::create_directories(server_->export_dir() + "/legacy/app");
  ASSERT_TRUE(WriteFile(server_->export_dir() + "/legacy/app/config", "static data"));
  ::csi::v1::Volume v;
  v.set_volume_id("any-handle-the-user-chose");
  (*v.mutable_volume_context())["server"] = "127.0.0.1";
  (*v.mutable_volume_context())["share"] = "/export";
  (*v.mutable_volume_context())["subDir"] = "legacy/app";
  (*v.mutable_volume_context())["port"] = std::to_string(server_->port());
  (*v.mutable_volume_context())["readOnly"] = "true";
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("a", v, staging));
  ASSERT_GRPC_OK(Publish("a", v, staging, target, false));
  EXPECT_EQ(ReadAll(target + "/config"), "static data");
  int error = 0;
  EXPECT_FALSE(WriteFile(target + "/config", "changed", &error)) << "readOnly=true is honoured";
  EXPECT_EQ(error, EROFS);
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), target));
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, TwoNodesShareOneVolumeAndItsLocks) {
  StartNode("b", /*own_namespace=*/true);
  ::csi::v1::Volume v = CreateVolume("pvc-rwx");
  const std::string staging_a = dir_ + "/a-staging", target_a = dir_ + "/a-pod";
  const std::string staging_b = dir_ + "/b-staging", target_b = dir_ + "/b-pod";
  fs::create_directories(staging_a);
  fs::create_directories(staging_b);
  ASSERT_GRPC_OK(Stage("a", v, staging_a));
  ASSERT_GRPC_OK(Publish("a", v, staging_a, target_a, false));
  ASSERT_GRPC_OK(Stage("b", v, staging_b));
  ASSERT_GRPC_OK(Publish("b", v, staging_b, target_b, false));

  // Node b's mounts live in its own mount namespace: invisible here, seen through its root.
  const std::string b_pid = std::to_string(nodes_["b"]->pid());
  EXPECT_TRUE(MountsUnder(staging_b).empty());
  EXPECT_EQ(MountsUnder(dir_ + "/b-", b_pid).size(), 2u);
  const std::string via_b = "/proc/" + b_pid + "/root" + target_b;

  ASSERT_TRUE(WriteFile(target_a + "/shared.txt", "from node a"));
  EXPECT_EQ(ReadAll(via_b + "/shared.txt"), "from node a");
  ASSERT_TRUE(WriteFile(via_b + "/lock", ""));

  pid_t holder = HoldWriteLock(target_a + "/lock");
  ASSERT_GT(holder, 0);
  int denied = TryWriteLock(via_b + "/lock", false, std::chrono::seconds(10));
  EXPECT_TRUE(denied == EAGAIN || denied == EACCES) << "got errno " << denied;
  EXPECT_EQ(TryWriteLock(via_b + "/lock", true, std::chrono::milliseconds(1500)), EINTR)
      << "F_SETLKW waits while node a holds the lock";
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  EXPECT_EQ(TryWriteLock(via_b + "/lock", true, std::chrono::seconds(20)), 0)
      << "granted once node a's holder is gone";

  ASSERT_GRPC_OK(Unpublish("b", v.volume_id(), target_b));
  ASSERT_GRPC_OK(Unstage("b", v.volume_id(), staging_b));
  EXPECT_TRUE(MountsUnder(dir_, b_pid).empty());
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), target_a));
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging_a));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, NfsServerRestartWhileMounted) {
  ::csi::v1::Volume v = CreateVolume("pvc-restart");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("a", v, staging));
  ASSERT_GRPC_OK(Publish("a", v, staging, target, false));
  ASSERT_TRUE(WriteFile(target + "/before", "before"));

  ASSERT_TRUE(server_->Pause().ok());
  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("a", v.volume_id(), target, &stats));
  EXPECT_TRUE(stats.volume_condition().abnormal());
  EXPECT_FALSE(stats.volume_condition().message().empty());
  ASSERT_TRUE(server_->Resume().ok());

  // Recovers: the mount reconnects by itself.
  bool healthy = false;
  for (int i = 0; i < 100 && !healthy; ++i) {
    stats.Clear();
    healthy = Stats("a", v.volume_id(), target, &stats).ok() && !stats.volume_condition().abnormal();
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(healthy) << stats.volume_condition().message();
  EXPECT_EQ(ReadAll(target + "/before"), "before");
  EXPECT_TRUE(WriteFile(target + "/after", "after"));

  // With the server gone again, unpublish and unstage still clean up.
  ASSERT_TRUE(server_->Pause().ok());
  EXPECT_GRPC_OK(Unpublish("a", v.volume_id(), target));
  EXPECT_GRPC_OK(Unstage("a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty()) << MountsUnder(dir_)[0];
  ASSERT_TRUE(server_->Resume().ok());
}

TEST_F(NodeE2E, NodePluginKilledAndRestartedMidLifecycle) {
  ::csi::v1::Volume v = CreateVolume("pvc-crash");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("a", v, staging));
  ASSERT_TRUE(nodes_["a"]->Restart().ok());  // SIGKILL, then start again
  ASSERT_GRPC_OK(Stage("a", v, staging));  // the surviving mount is reused
  EXPECT_EQ(MountsUnder(staging).size(), 1u);
  ASSERT_GRPC_OK(Publish("a", v, staging, target, false));
  ASSERT_TRUE(WriteFile(target + "/file", "data"));
  ASSERT_TRUE(nodes_["a"]->Restart().ok());
  ASSERT_GRPC_OK(Publish("a", v, staging, target, false));
  EXPECT_EQ(ReadAll(target + "/file"), "data");

  // The FUSE daemon itself dies: the next stage notices and mounts again.
  ASSERT_GRPC_OK(Unpublish("a", v.volume_id(), target));
  ASSERT_EQ(system(("pkill -KILL -f 'fuse-mount.*--target " + staging + "( |$)'").c_str()), 0);
  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("a", v.volume_id(), staging, &stats));
  EXPECT_TRUE(stats.volume_condition().abnormal());
  ASSERT_GRPC_OK(Stage("a", v, staging));
  EXPECT_EQ(ReadAll(staging + "/file"), "data");

  ASSERT_TRUE(nodes_["a"]->Restart().ok());
  ASSERT_GRPC_OK(Unstage("a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

}  // namespace
}  // namespace nfsprov::e2e
