#include "e2e/cluster.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;

// Field 5 of a mountinfo line: the mount point.
std::string MountPoint(const std::string& mountinfo_line) {
  std::istringstream fields(mountinfo_line);
  std::string id, parent, devno, root, target;
  fields >> id >> parent >> devno >> root >> target;
  return target;
}

void SetDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
}

}  // namespace

::csi::v1::VolumeCapability Capability(Mode mode) {
  ::csi::v1::VolumeCapability c;
  c.mutable_mount();
  c.mutable_access_mode()->set_mode(mode);
  return c;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& data, int* error, int flags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | flags, 0644);
  if (fd < 0) {
    if (error != nullptr) *error = errno;
    return false;
  }
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  if (error != nullptr) *error = ok ? 0 : errno;
  return ::close(fd) == 0 && ok;
}

std::string Listing(const std::string& root, const std::set<std::string>& skip) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = it->path().lexically_relative(root).string();
    if (skip.count(rel) != 0) it.disable_recursion_pending();
    paths.push_back(rel);
  }
  std::sort(paths.begin(), paths.end());
  std::string out;
  for (const std::string& p : paths) out += p + "\n";
  return out;
}

std::vector<std::string> MountsUnder(const std::string& prefix, const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/mountinfo");
  std::vector<std::string> found;
  std::string line;
  while (std::getline(in, line)) {
    if (MountPoint(line).rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

void ClusterTest::StartCluster(const std::vector<std::string>& controller_flags) {
  static int counter = 0;
  auto server = testing::GaneshaServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  server_ = std::move(server).value();
  dir_ = fs::temp_directory_path() /
         ("nfsprov-e2e-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir_);
  std::vector<std::string> args = {"controller", "--share", server_->Url(), "--nfs-timeout", "5"};
  args.insert(args.end(), controller_flags.begin(), controller_flags.end());
  auto controller = DriverProcess::Start(args, dir_ + "/controller.sock");
  ASSERT_TRUE(controller.ok()) << controller.status().ToString();
  controller_process_ = std::move(controller).value();
  controller_ = ::csi::v1::Controller::NewStub(controller_process_->Channel());
}

void ClusterTest::TearDown() {
  // Each node plugin has its own mount namespace: only it can take its FUSE mounts down.
  for (const PodMount& m : mounts_) {
    (void)Unpublish(m.node, m.volume_id, m.target);
    (void)Unstage(m.node, m.volume_id, m.staging);
  }
  mounts_.clear();
  nodes_.clear();
  controller_process_.reset();
  unsetenv("NFSPROV_CRASH_AT");
  if (dir_.empty()) return;
  // Whatever a failed test left mounted (FUSE daemons exit once unmounted).
  for (int round = 0; round < 5 && !MountsUnder(dir_).empty(); ++round) {
    for (const std::string& line : MountsUnder(dir_)) umount2(MountPoint(line).c_str(), MNT_DETACH);
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void ClusterTest::RestartController(const std::string& crash_at) {
  if (crash_at.empty()) {
    unsetenv("NFSPROV_CRASH_AT");
  } else {
    setenv("NFSPROV_CRASH_AT", crash_at.c_str(), 1);
  }
  Status restarted = controller_process_->Restart();
  unsetenv("NFSPROV_CRASH_AT");
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  // A fresh channel: the old one may sit in reconnect back-off after the crash.
  controller_ = ::csi::v1::Controller::NewStub(controller_process_->Channel());
}

void ClusterTest::StartNode(const std::string& name, bool own_mount_namespace,
                            std::vector<std::string> extra_args) {
  fs::create_directories(dir_ + "/" + name + "/state");
  std::vector<std::string> args = {"node", "--node-id", name, "--mounter", "fuse", "--state-dir",
                                   dir_ + "/" + name + "/state"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto node = DriverProcess::Start(std::move(args), dir_ + "/" + name + ".sock", own_mount_namespace);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  nodes_[name] = std::move(node).value();
}

std::unique_ptr<::csi::v1::Node::Stub> ClusterTest::NodeStub(const std::string& name) const {
  return ::csi::v1::Node::NewStub(nodes_.at(name)->Channel());
}

Params ClusterTest::BaseParams(const std::string& share) const {
  return {{"server", "127.0.0.1"}, {"share", share}, {"port", std::to_string(server_->port())}};
}

::csi::v1::CreateVolumeRequest ClusterTest::CreateRequest(const std::string& name, const Params& params,
                                                          Mode mode) const {
  ::csi::v1::CreateVolumeRequest r;
  r.set_name(name);
  *r.add_volume_capabilities() = Capability(mode);
  Params all = BaseParams();
  for (const auto& [k, v] : params) all[k] = v;
  for (const auto& [k, v] : all) (*r.mutable_parameters())[k] = v;
  return r;
}

grpc::Status ClusterTest::Create(const ::csi::v1::CreateVolumeRequest& request, ::csi::v1::Volume* out) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::CreateVolumeResponse response;
  grpc::Status s = controller_->CreateVolume(&ctx, request, &response);
  if (out != nullptr) *out = response.volume();
  return s;
}

::csi::v1::Volume ClusterTest::MustCreate(const std::string& name, const Params& params, Mode mode) {
  ::csi::v1::Volume v;
  grpc::Status s = Create(CreateRequest(name, params, mode), &v);
  EXPECT_TRUE(s.ok()) << "CreateVolume " << name << ": " << s.error_message();
  return v;
}

grpc::Status ClusterTest::Delete(const std::string& volume_id) {
  ::csi::v1::DeleteVolumeRequest r;
  r.set_volume_id(volume_id);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::DeleteVolumeResponse response;
  return controller_->DeleteVolume(&ctx, r, &response);
}

::csi::v1::Volume ClusterTest::StaticVolume(const std::string& volume_id, const Params& context) const {
  ::csi::v1::Volume v;
  v.set_volume_id(volume_id);
  for (const auto& [k, value] : BaseParams()) (*v.mutable_volume_context())[k] = value;
  for (const auto& [k, value] : context) (*v.mutable_volume_context())[k] = value;
  return v;
}

grpc::Status ClusterTest::Stage(const std::string& node, const ::csi::v1::Volume& v,
                                const std::string& staging, Mode mode) {
  ::csi::v1::NodeStageVolumeRequest r;
  r.set_volume_id(v.volume_id());
  r.set_staging_target_path(staging);
  *r.mutable_volume_capability() = Capability(mode);
  *r.mutable_volume_context() = v.volume_context();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::NodeStageVolumeResponse response;
  return NodeStub(node)->NodeStageVolume(&ctx, r, &response);
}

grpc::Status ClusterTest::Publish(const std::string& node, const ::csi::v1::Volume& v,
                                  const std::string& staging, const std::string& target, bool readonly,
                                  Mode mode) {
  ::csi::v1::NodePublishVolumeRequest r;
  r.set_volume_id(v.volume_id());
  r.set_staging_target_path(staging);
  r.set_target_path(target);
  r.set_readonly(readonly);
  *r.mutable_volume_capability() = Capability(mode);
  *r.mutable_volume_context() = v.volume_context();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::NodePublishVolumeResponse response;
  return NodeStub(node)->NodePublishVolume(&ctx, r, &response);
}

grpc::Status ClusterTest::Unpublish(const std::string& node, const std::string& volume_id,
                                    const std::string& target) {
  ::csi::v1::NodeUnpublishVolumeRequest r;
  r.set_volume_id(volume_id);
  r.set_target_path(target);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::NodeUnpublishVolumeResponse response;
  return NodeStub(node)->NodeUnpublishVolume(&ctx, r, &response);
}

grpc::Status ClusterTest::Unstage(const std::string& node, const std::string& volume_id,
                                  const std::string& staging) {
  ::csi::v1::NodeUnstageVolumeRequest r;
  r.set_volume_id(volume_id);
  r.set_staging_target_path(staging);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  ::csi::v1::NodeUnstageVolumeResponse response;
  return NodeStub(node)->NodeUnstageVolume(&ctx, r, &response);
}

std::string ClusterTest::MountInPod(const std::string& node, const ::csi::v1::Volume& v, bool readonly,
                                    Mode mode) {
  const std::string base = dir_ + "/" + node + "/" + std::to_string(mounts_made_++);
  PodMount m{node, v.volume_id(), base + "-staging", base + "-pod"};
  grpc::Status s = Stage(node, v, m.staging, mode);
  EXPECT_TRUE(s.ok()) << "NodeStageVolume on " << node << ": " << s.error_message();
  if (!s.ok()) return "";
  mounts_.push_back(m);
  s = Publish(node, v, m.staging, m.target, readonly, mode);
  EXPECT_TRUE(s.ok()) << "NodePublishVolume on " << node << ": " << s.error_message();
  if (!s.ok()) return "";
  return "/proc/" + std::to_string(nodes_.at(node)->pid()) + "/root" + m.target;
}

void ClusterTest::UnmountPod(const std::string& pod_path) {
  auto it = std::find_if(mounts_.begin(), mounts_.end(),
                         [&](const PodMount& m) { return pod_path.ends_with(m.target); });
  ASSERT_NE(it, mounts_.end()) << pod_path;
  ASSERT_GRPC_OK(Unpublish(it->node, it->volume_id, it->target));
  ASSERT_GRPC_OK(Unstage(it->node, it->volume_id, it->staging));
  mounts_.erase(it);
}

void ClusterTest::UnmountAll() {
  while (!mounts_.empty()) {
    const PodMount m = mounts_.back();
    mounts_.pop_back();
    EXPECT_GRPC_OK(Unpublish(m.node, m.volume_id, m.target));
    EXPECT_GRPC_OK(Unstage(m.node, m.volume_id, m.staging));
  }
}

}  // namespace nfsprov::e2e
