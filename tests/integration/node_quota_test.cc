// The node side of quotas against a real nfs-ganesha, through real FUSE mounts made by the real
// `nfsprov fuse-mount` daemon (Node with the FUSE mounter, as `nfsprov node --mounter fuse` runs
// it): NodeGetVolumeStats from the volume's records on the share, the statvfs fallback for static
// volumes and unreachable shares, and read-only quota enforcement (quotaEnforcement: readonly).
// Records are written as the controller's usage scanner writes them (MetadataStore::PutUsage).
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "csi/node_service.h"
#include "mount/fuse_mounter.h"
#include "mount/mountinfo.h"
#include "provisioner/metadata_store.h"
#include "provisioner/node.h"
#include "provisioner/object_id.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/log_capture.h"

namespace nfsprov {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

extern "C" char** environ;

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    Status assert_ok_status_ = (expr);                                    \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

// Waits up to `timeout` for `done`; true if it happened.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

// errno of creating, writing and closing a new file (0: it worked; the file is removed again).
int CreateError(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) return errno;
  int err = write(fd, "x", 1) == 1 ? 0 : errno;
  close(fd);
  unlink(path.c_str());
  return err;
}

class NodeQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    char tmpl[] = "/tmp/nfsprov-node-quota-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto client = nfs::Client::Connect(server_->Url());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    store_ = std::make_unique<MetadataStore>(std::shared_ptr<nfs::Client>(std::move(client).value()));
    NodeOptions options;
    options.nfs_timeout = 2s;  // the unreachable share's connect gives up quickly
    node_ = std::make_unique<Node>(
        options, std::make_unique<mount::FuseMounter>(NFSPROV_BINARY, dir_ + "/state"));
  }
  void TearDown() override {
    mount::FuseMounter mounter(NFSPROV_BINARY, dir_ + "/state");
    for (const std::string& path : staged_) EXPECT_TRUE(mounter.Unmount(path).ok()) << path;
    node_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ShareRef Share(int port) const { return ShareRef{"127.0.0.1", "/export", port, "4"}; }
  std::string VolumeId(const std::string& name, int port) const {
    return EncodeId({ObjectKind::kVolume, Share(port), KeyForName(name)}).value();
  }
  // A controller-made volume: its directory and record, capacity `capacity`.
  void MakeVolume(const std::string& name, int64_t capacity) {
    fs::create_directories(server_->export_dir() + "/vols/" + name);
    VolumeRecord record;
    record.name = name;
    record.key = KeyForName(name);
    record.path = "vols/" + name;
    record.capacity_bytes = capacity;
    record.state = VolumeState::kReady;
    ASSERT_OK(store_->PutVolume(record));
  }
  void PutUsage(const std::string& name, int64_t quota, int64_t used, int64_t inodes) {
    UsageRecord usage;
    usage.name = name;
    usage.key = KeyForName(name);
    usage.path = "vols/" + name;
    usage.quota_bytes = quota;
    usage.used_bytes = used;
    usage.used_inodes = inodes;
    ASSERT_OK(store_->PutUsage(usage));
  }
  // Stages vols/<dir> at a new staging path; returns the path.
  std::string Stage(const std::string& volume_id, const std::string& dir,
                    std::map<std::string, std::string> extra = {}) {
    StageArgs args;
    args.volume_id = volume_id;
    args.staging_path = dir_ + "/staging-" + std::to_string(staged_.size());
    args.context = {{"server", "127.0.0.1"}, {"share", "/export"}, {"subDir", "vols/" + dir},
                    {"port", std::to_string(server_->port())}};
    args.context.insert(extra.begin(), extra.end());
    Status staged = node_->Stage(args);
    EXPECT_TRUE(staged.ok()) << staged.ToString();
    staged_.push_back(args.staging_path);
    return args.staging_path;
  }

  std::unique_ptr<testing::GaneshaServer> server_;
  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<Node> node_;
  std::vector<std::string> staged_;
};

TEST_F(NodeQuotaTest, StatsComeFromTheVolumesRecords) {
  MakeVolume("pvc-a", kGiB);
  const std::string id = VolumeId("pvc-a", server_->port());
  const std::string path = Stage(id, "pvc-a");

  // Not scanned yet: a new volume is empty; its capacity is the total.
  Result<NodeVolumeStats> s = node_->Stats(id, path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes_total, kGiB);
  EXPECT_EQ(s->bytes_used, 0);
  EXPECT_EQ(s->bytes_available, kGiB);
  EXPECT_EQ(s->inodes_used, 0);
  EXPECT_GT(s->inodes_free, 0);
  EXPECT_EQ(s->inodes_total, s->inodes_free);
  EXPECT_FALSE(s->abnormal) << s->message;

  PutUsage("pvc-a", kGiB, 300 * kMiB, 42);
  s = node_->Stats(id, path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes_total, kGiB);
  EXPECT_EQ(s->bytes_used, 300 * kMiB);
  EXPECT_EQ(s->bytes_available, kGiB - 300 * kMiB);
  EXPECT_EQ(s->inodes_used, 42);
  EXPECT_EQ(s->inodes_total, 42 + s->inodes_free);
  EXPECT_FALSE(s->abnormal) << s->message;

  PutUsage("pvc-a", kGiB, 3 * kGiB / 2, 43);
  s = node_->Stats(id, path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->abnormal);
  EXPECT_EQ(s->message, "over quota: used 1.5 GiB of 1 GiB");
  EXPECT_TRUE(s->has_usage) << "an over-quota volume still reports its numbers";
  EXPECT_EQ(s->bytes_used, 3 * kGiB / 2);
  EXPECT_EQ(s->bytes_available, 0);

  // Over CSI: the condition and the numbers both (kubelet shows usage next to the condition).
  csi::NodeService service(*node_, {"node-1", {}});
  ::csi::v1::NodeGetVolumeStatsRequest request;
  request.set_volume_id(id);
  request.set_volume_path(path);
  ::csi::v1::NodeGetVolumeStatsResponse response;
  ASSERT_TRUE(service.NodeGetVolumeStats(nullptr, &request, &response).ok());
  EXPECT_TRUE(response.volume_condition().abnormal());
  EXPECT_EQ(response.volume_condition().message(), "over quota: used 1.5 GiB of 1 GiB");
  ASSERT_EQ(response.usage_size(), 2);
  EXPECT_EQ(response.usage(0).unit(), ::csi::v1::VolumeUsage::BYTES);
  EXPECT_EQ(response.usage(0).total(), kGiB);
  EXPECT_EQ(response.usage(0).used(), 3 * kGiB / 2);
  EXPECT_EQ(response.usage(1).unit(), ::csi::v1::VolumeUsage::INODES);
  EXPECT_EQ(response.usage(1).used(), 43);
}

TEST_F(NodeQuotaTest, StaticVolumeAndUnreachableShareReportTheMount) {
  MakeVolume("pvc-b", kGiB);
  PutUsage("pvc-b", kGiB, 3 * kGiB / 2, 5);  // would be abnormal if it were read
  const std::string static_path = Stage("legacy-data", "pvc-b");
  // An ID whose share does not answer: the records cannot be read, the call must not fail.
  const std::string lost_id = VolumeId("pvc-b", *testing::PickFreePort());
  const std::string lost_path = Stage(lost_id, "pvc-b");

  struct statvfs vfs;
  ASSERT_EQ(statvfs(static_path.c_str(), &vfs), 0);
  const int64_t export_total = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
  ASSERT_GT(export_total, kGiB) << "the test needs an export larger than the quota";

  Result<NodeVolumeStats> s = node_->Stats("legacy-data", static_path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bytes_total, export_total);
  EXPECT_EQ(s->inodes_total, static_cast<int64_t>(vfs.f_files));
  EXPECT_FALSE(s->abnormal) << s->message;

  testing::LogCapture logs;
  for (int i = 0; i < 2; ++i) {
    s = node_->Stats(lost_id, lost_path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->bytes_total, export_total);
    EXPECT_FALSE(s->abnormal) << s->message;
  }
  EXPECT_EQ(logs.Count({"cannot be read"}), 1) << "one warning per distinct error, not per call";
}

TEST_F(NodeQuotaTest, AHungShareCostsOneTimeoutPerRetryPeriod) {
  // A port that completes TCP handshakes (the kernel's backlog) and never answers NFS.
  int hung = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(hung, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(hung, 16), 0);
  socklen_t len = sizeof a;
  getsockname(hung, reinterpret_cast<sockaddr*>(&a), &len);
  MakeVolume("pvc-d", kGiB);
  const std::string id = VolumeId("pvc-d", ntohs(a.sin_port));
  const std::string path = Stage(id, "pvc-d");

  auto start = std::chrono::steady_clock::now();
  Result<NodeVolumeStats> s = node_->Stats(id, path);
  auto first = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(s->bytes_total, kGiB) << "the records cannot have been read";
  EXPECT_LT(first, 10s) << "bounded by --nfs-timeout (2 s here)";

  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(node_->Stats(id, path).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s)
      << "each call waited for the dead share again (first took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(first).count() << " ms)";
  close(hung);
}

TEST_F(NodeQuotaTest, ReadOnlyEnforcementRefusesNewDataWhileOverQuota) {
  MakeVolume("pvc-c", kGiB);
  const std::string id = VolumeId("pvc-c", server_->port());
  const std::string root = Stage(id, "pvc-c", {{"quotaEnforcement", "readonly"}});
  mount::FuseMounter mounter(NFSPROV_BINARY, dir_ + "/state");
  Result<pid_t> daemon = mounter.FuseDaemonPid(root);
  ASSERT_TRUE(daemon.ok()) << daemon.status().ToString();
  std::ifstream cmdline("/proc/" + std::to_string(*daemon) + "/cmdline");
  std::string args((std::istreambuf_iterator<char>(cmdline)), {});
  EXPECT_NE(args.find(std::string("--quota-key") + '\0' + KeyForName("pvc-c")), std::string::npos);

  // No usage record yet: nothing is refused.
  EXPECT_EQ(CreateError(root + "/probe"), 0);
  ASSERT_EQ(mkdir((root + "/dir").c_str(), 0755), 0);
  { std::ofstream(root + "/keep") << "hello"; }
  { std::ofstream(root + "/big") << std::string(100000, 'b'); }
  int open_fd = open((root + "/keep").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(open_fd, 0) << strerror(errno);

  PutUsage("pvc-c", kGiB, 2 * kGiB, 10);
  ASSERT_TRUE(Eventually([&] { return CreateError(root + "/probe") == EROFS; }))
      << "new files are still accepted 10 s after the volume went over quota";

  // Everything that adds data is refused...
  errno = 0;
  EXPECT_EQ(write(open_fd, "more", 4), -1);
  EXPECT_EQ(errno, EROFS) << "a file opened before keeps writing";
  EXPECT_EQ(mkdir((root + "/d2").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(symlink("keep", (root + "/ln").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(link((root + "/keep").c_str(), (root + "/hard").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(truncate((root + "/keep").c_str(), 1 << 20), -1);
  EXPECT_EQ(errno, EROFS) << "growing a file adds data";
  // ...what frees space or only reads is not.
  std::ifstream keep(root + "/keep");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(keep)), {}), "hello");
  EXPECT_EQ(truncate((root + "/big").c_str(), 10), 0) << strerror(errno);
  EXPECT_EQ(fs::file_size(server_->export_dir() + "/vols/pvc-c/big"), 10u);
  EXPECT_EQ(chmod((root + "/keep").c_str(), 0600), 0) << strerror(errno);
  EXPECT_EQ(rename((root + "/keep").c_str(), (root + "/kept").c_str()), 0) << strerror(errno);
  EXPECT_EQ(unlink((root + "/big").c_str()), 0) << strerror(errno);
  EXPECT_EQ(rmdir((root + "/dir").c_str()), 0) << strerror(errno);
  EXPECT_FALSE(fs::exists(server_->export_dir() + "/vols/pvc-c/big"));

  PutUsage("pvc-c", kGiB, 10 * kMiB, 3);
  ASSERT_TRUE(Eventually([&] { return CreateError(root + "/probe") == 0; }))
      << "writes are still refused 10 s after the volume got back under its quota";
  EXPECT_EQ(write(open_fd, "more", 4), 4) << strerror(errno);
  close(open_fd);
  EXPECT_EQ(mkdir((root + "/d3").c_str(), 0755), 0) << strerror(errno);

  // The daemon said so, once each way, naming the volume.
  std::ifstream log_file(mounter.LogPath(root));
  std::string log((std::istreambuf_iterator<char>(log_file)), {});
  const std::string key = KeyForName("pvc-c");
  EXPECT_NE(log.find("volume " + key + " is over quota"), std::string::npos) << log;
  EXPECT_NE(log.find("volume " + key + " is within its quota again"), std::string::npos) << log;
}

TEST_F(NodeQuotaTest, FuseMountNeedsBothQuotaFlags) {
  fs::create_directories(dir_ + "/t");
  for (const char* flag : {"--quota-key", "--quota-share"}) {
    std::vector<std::string> args = {NFSPROV_BINARY, "fuse-mount",  "--url", server_->Url(),
                                     "--target",     dir_ + "/t", flag,    "x"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << flag << " alone was accepted";
    Result<std::optional<mount::MountEntry>> mounted = mount::FindMountAt(dir_ + "/t");
    ASSERT_TRUE(mounted.ok());
    EXPECT_FALSE(mounted->has_value()) << flag << " alone mounted something";
  }
}

}  // namespace
}  // namespace nfsprov
