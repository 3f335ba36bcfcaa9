// End to end for `nfsprov node` with the FUSE mounter: the real controller and node binaries over
// their sockets, a real nfs-ganesha, real mounts. Mount state is always checked in mountinfo.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "e2e/cluster.h"
#include "tests/support/private_libraries.h"
#include "tests/support/proc_memory.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;

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

class NodeE2E : public ClusterTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartCluster({}));
    // In this process's mount namespace: its mounts are checked in our mountinfo.
    StartNode("node-a", /*own_mount_namespace=*/false);
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
};

TEST_F(NodeE2E, CapabilitiesAndInfo) {
  grpc::ClientContext ctx;
  ::csi::v1::NodeGetCapabilitiesResponse caps;
  ASSERT_TRUE(NodeStub("node-a")->NodeGetCapabilities(&ctx, {}, &caps).ok());
  std::set<int> types;
  for (const auto& c : caps.capabilities()) types.insert(c.rpc().type());
  EXPECT_EQ(types, (std::set<int>{::csi::v1::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME,
                                  ::csi::v1::NodeServiceCapability::RPC::GET_VOLUME_STATS,
                                  ::csi::v1::NodeServiceCapability::RPC::VOLUME_CONDITION,
                                  ::csi::v1::NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER}));
  grpc::ClientContext info_ctx;
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_TRUE(NodeStub("node-a")->NodeGetInfo(&info_ctx, {}, &info).ok());
  EXPECT_EQ(info.node_id(), "node-a");
  EXPECT_EQ(info.max_volumes_per_node(), 0);
  EXPECT_FALSE(info.has_accessible_topology());
}

TEST_F(NodeE2E, LifecycleReadWriteAndReadOnlyPublishes) {
  ::csi::v1::Volume v = MustCreate("pvc-life");
  const std::string staging = dir_ + "/staging", rw = dir_ + "/pod-rw", ro = dir_ + "/pod-ro";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-a", v, staging));
  ASSERT_GRPC_OK(Stage("node-a", v, staging));  // a repeated stage succeeds
  ASSERT_GRPC_OK(Publish("node-a", v, staging, rw, false));
  ASSERT_GRPC_OK(Publish("node-a", v, staging, ro, true));
  ASSERT_GRPC_OK(Publish("node-a", v, staging, ro, true));  // a repeated publish succeeds
  EXPECT_EQ(MountsUnder(dir_).size(), 3u);

  ASSERT_TRUE(WriteFile(rw + "/hello.txt", "written through rw"));
  EXPECT_EQ(ReadAll(ro + "/hello.txt"), "written through rw");
  EXPECT_EQ(ReadAll(server_->export_dir() + "/pvc-life/hello.txt"), "written through rw");
  int error = 0;
  EXPECT_FALSE(WriteFile(ro + "/nope.txt", "x", &error));
  EXPECT_EQ(error, EROFS);

  // The same target asked for read-write is a different mount: ALREADY_EXISTS.
  EXPECT_EQ(Publish("node-a", v, staging, ro, false).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("node-a", v.volume_id(), rw, &stats));
  EXPECT_FALSE(stats.volume_condition().abnormal());
  ASSERT_EQ(stats.usage_size(), 2);
  EXPECT_GT(stats.usage(0).total(), 0);

  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), rw));
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), ro));
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), ro));  // a repeated unpublish succeeds
  EXPECT_FALSE(fs::exists(rw));
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));  // a repeated unstage succeeds
  EXPECT_TRUE(MountsUnder(dir_).empty()) << MountsUnder(dir_)[0];
  EXPECT_GRPC_OK(Delete(v.volume_id()));
}

TEST_F(NodeE2E, ReaderOnlyAccessModeMountsReadOnly) {
  ::csi::v1::Volume v = MustCreate("pvc-reader");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-a", v, staging, kReader));
  ASSERT_GRPC_OK(Publish("node-a", v, staging, target, false, kReader));
  int error = 0;
  EXPECT_FALSE(WriteFile(target + "/x", "x", &error));
  EXPECT_EQ(error, EROFS);
  EXPECT_FALSE(WriteFile(staging + "/x", "x", &error)) << "the staging mount is read-only too";
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), target));
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, BadRequestsGetClearErrorsAndTouchNothing) {
  ::csi::v1::Volume v = MustCreate("pvc-bad");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  // Publish before stage.
  grpc::Status s = Publish("node-a", v, staging, target, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  // A typo in a static volume's attributes must not mount the whole export.
  ::csi::v1::Volume typo = v;
  (*typo.mutable_volume_context())["subdir"] = "x";
  s = Stage("node-a", typo, staging);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("subdir"), std::string::npos) << s.error_message();
  // Escaping the export.
  ::csi::v1::Volume escape = v;
  (*escape.mutable_volume_context())["subDir"] = "../etc";
  EXPECT_EQ(Stage("node-a", escape, staging).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Relative paths, missing IDs and capabilities.
  EXPECT_EQ(Stage("node-a", v, "relative/path").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ::csi::v1::NodeStageVolumeRequest no_cap;
  no_cap.set_volume_id(v.volume_id());
  no_cap.set_staging_target_path(staging);
  *no_cap.mutable_volume_context() = v.volume_context();
  grpc::ClientContext ctx;
  ::csi::v1::NodeStageVolumeResponse response;
  EXPECT_EQ(NodeStub("node-a")->NodeStageVolume(&ctx, no_cap, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish("node-a", "", target).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A staging path already mounted from something else.
  ASSERT_EQ(mount("tmpfs", staging.c_str(), "tmpfs", 0, nullptr), 0);
  s = Stage("node-a", v, staging);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  ASSERT_EQ(umount(staging.c_str()), 0);
  // Unpublish/unstage of what is not there succeed.
  EXPECT_GRPC_OK(Unpublish("node-a", v.volume_id(), dir_ + "/never"));
  EXPECT_GRPC_OK(Unstage("node-a", v.volume_id(), dir_ + "/never"));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, StaticVolumeWithoutTheController) {
  fs::create_directories(server_->export_dir() + "/legacy/app");
  ASSERT_TRUE(WriteFile(server_->export_dir() + "/legacy/app/config", "static data"));
  const ::csi::v1::Volume v =
      StaticVolume("any-handle-the-user-chose", {{"subDir", "legacy/app"}, {"readOnly", "true"}});
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-a", v, staging));
  ASSERT_GRPC_OK(Publish("node-a", v, staging, target, false));
  EXPECT_EQ(ReadAll(target + "/config"), "static data");
  int error = 0;
  EXPECT_FALSE(WriteFile(target + "/config", "changed", &error)) << "readOnly=true is honoured";
  EXPECT_EQ(error, EROFS);
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), target));
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, TwoNodesShareOneVolumeAndItsLocks) {
  StartNode("node-b");
  ::csi::v1::Volume v = MustCreate("pvc-rwx");
  const std::string staging_a = dir_ + "/a-staging", target_a = dir_ + "/a-pod";
  const std::string staging_b = dir_ + "/b-staging", target_b = dir_ + "/b-pod";
  fs::create_directories(staging_a);
  fs::create_directories(staging_b);
  ASSERT_GRPC_OK(Stage("node-a", v, staging_a));
  ASSERT_GRPC_OK(Publish("node-a", v, staging_a, target_a, false));
  ASSERT_GRPC_OK(Stage("node-b", v, staging_b));
  ASSERT_GRPC_OK(Publish("node-b", v, staging_b, target_b, false));

  // Node b's mounts live in its own mount namespace: invisible here, seen through its root.
  const std::string b_pid = std::to_string(nodes_.at("node-b")->pid());
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

  ASSERT_GRPC_OK(Unpublish("node-b", v.volume_id(), target_b));
  ASSERT_GRPC_OK(Unstage("node-b", v.volume_id(), staging_b));
  EXPECT_TRUE(MountsUnder(dir_, b_pid).empty());
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), target_a));
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging_a));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

TEST_F(NodeE2E, NfsServerRestartWhileMounted) {
  ::csi::v1::Volume v = MustCreate("pvc-restart");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-a", v, staging));
  ASSERT_GRPC_OK(Publish("node-a", v, staging, target, false));
  ASSERT_TRUE(WriteFile(target + "/before", "before"));

  ASSERT_TRUE(server_->Pause().ok());
  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("node-a", v.volume_id(), target, &stats));
  EXPECT_TRUE(stats.volume_condition().abnormal());
  EXPECT_FALSE(stats.volume_condition().message().empty());
  ASSERT_TRUE(server_->Resume().ok());

  // Recovers: the mount reconnects by itself.
  EXPECT_TRUE(WaitFor([&] {
    stats.Clear();
    return Stats("node-a", v.volume_id(), target, &stats).ok() && !stats.volume_condition().abnormal();
  })) << stats.volume_condition().message();
  EXPECT_EQ(ReadAll(target + "/before"), "before");
  EXPECT_TRUE(WriteFile(target + "/after", "after"));

  // With the server gone again, unpublish and unstage still clean up.
  ASSERT_TRUE(server_->Pause().ok());
  EXPECT_GRPC_OK(Unpublish("node-a", v.volume_id(), target));
  EXPECT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty()) << MountsUnder(dir_)[0];
  ASSERT_TRUE(server_->Resume().ok());
}

TEST_F(NodeE2E, NodePluginKilledAndRestartedMidLifecycle) {
  ::csi::v1::Volume v = MustCreate("pvc-crash");
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-a", v, staging));
  ASSERT_TRUE(nodes_.at("node-a")->Restart().ok());  // SIGKILL, then start again
  ASSERT_GRPC_OK(Stage("node-a", v, staging));  // the surviving mount is reused
  EXPECT_EQ(MountsUnder(staging).size(), 1u);
  ASSERT_GRPC_OK(Publish("node-a", v, staging, target, false));
  ASSERT_TRUE(WriteFile(target + "/file", "data"));
  ASSERT_TRUE(nodes_.at("node-a")->Restart().ok());
  ASSERT_GRPC_OK(Publish("node-a", v, staging, target, false));
  EXPECT_EQ(ReadAll(target + "/file"), "data");

  // The FUSE daemon itself dies: the next stage notices and mounts again.
  ASSERT_GRPC_OK(Unpublish("node-a", v.volume_id(), target));
  ASSERT_EQ(system(("pkill -KILL -f 'fuse-mount.*--target " + staging + "( |$)'").c_str()), 0);
  ::csi::v1::NodeGetVolumeStatsResponse stats;
  ASSERT_GRPC_OK(Stats("node-a", v.volume_id(), staging, &stats));
  EXPECT_TRUE(stats.volume_condition().abnormal());
  ASSERT_GRPC_OK(Stage("node-a", v, staging));
  EXPECT_EQ(ReadAll(staging + "/file"), "data");

  ASSERT_TRUE(nodes_.at("node-a")->Restart().ok());
  ASSERT_GRPC_OK(Unstage("node-a", v.volume_id(), staging));
  EXPECT_TRUE(MountsUnder(dir_).empty());
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// --idle-trim-after: after a quiet spell the plugin gives its file pages back (one log line per
// trim), keeps serving, and trims again only after new work. Only the pages no other process maps
// can go, and other tests may run the same binary meanwhile: the node runs on copies of its
// libraries, as in its container, and the test watches those.
class NodeIdleTrimE2E : public ClusterTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartCluster({}));
    controller_process_.reset();
    Result<int> copied = testing::UsePrivateLibraryCopies(DriverBinary(), dir_ + "/lib");
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    StartNode("node-idle", /*own_mount_namespace=*/false, {"--idle-trim-after", "2"});
  }
};

TEST_F(NodeIdleTrimE2E, GivesPagesBackAndKeepsServing) {
  DriverProcess& node = *nodes_.at("node-idle");
  const std::string kTrimmed = "back to the kernel";
  auto wait_for_trims = [&](int n) {
    WaitFor([&] { return CountOf(node.Log(), kTrimmed) >= n; }, std::chrono::seconds(15));
    return CountOf(node.Log(), kTrimmed);
  };
  const std::string libraries = dir_ + "/lib/";
  const double libraries_kb_started = testing::MappedRssKb(node.pid(), libraries);
  ASSERT_EQ(wait_for_trims(1), 1) << node.Log();
  const double libraries_kb_trimmed = testing::MappedRssKb(node.pid(), libraries);
  EXPECT_GT(libraries_kb_started, 1024);
  EXPECT_LT(libraries_kb_trimmed, libraries_kb_started / 2)
      << "libraries' RSS " << libraries_kb_started << " kB -> " << libraries_kb_trimmed << " kB\n"
      << node.Log();

  // Its pages fault back in: a whole lifecycle works.
  fs::create_directories(Local("idle"));
  const ::csi::v1::Volume v = StaticVolume("idle-volume", {{"subDir", "idle"}});
  const std::string staging = dir_ + "/staging", target = dir_ + "/pod";
  fs::create_directories(staging);
  ASSERT_GRPC_OK(Stage("node-idle", v, staging));
  ASSERT_GRPC_OK(Publish("node-idle", v, staging, target, false));
  ASSERT_TRUE(WriteFile(target + "/file", "after a trim"));
  EXPECT_EQ(ReadAll(Local("idle/file")), "after a trim");
  ASSERT_GRPC_OK(Unpublish("node-idle", v.volume_id(), target));
  ASSERT_GRPC_OK(Unstage("node-idle", v.volume_id(), staging));

  // That work is followed by one more trim, and then none while nothing happens.
  EXPECT_EQ(wait_for_trims(2), 2) << node.Log();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  EXPECT_EQ(CountOf(node.Log(), kTrimmed), 2) << node.Log();
}

}  // namespace
}  // namespace nfsprov::e2e
