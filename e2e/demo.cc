// make demo: the driver end to end against an embedded nfs-ganesha, step by step.
//
// Starts nfs-ganesha on a free loopback port and `nfsprov controller` on a unix socket, then
// drives it over gRPC exactly as the Kubernetes sidecars do: create, list, expand, snapshot,
// clone, delete. In between, `nfsprov node` (FUSE mounter) stages the volume and publishes it to
// a writer and a read-only reader, as kubelet would. After each step it prints what changed on
// the NFS server; at the end, what the controller's metrics endpoint counted. Leaves nothing
// running or mounted.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using ::csi::v1::Controller;
using ::csi::v1::Identity;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "demo failed: %s\n", what.c_str());
  std::exit(1);
}

void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.error_message());
}

void Step(int n, const std::string& title) { std::printf("\n== %d. %s\n", n, title.c_str()); }

// Prints the export's tree (metadata area included), like `tree`, at most 60 lines.
void PrintTree(const std::string& root) {
  std::vector<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string indent(2 * static_cast<size_t>(it.depth()), ' ');
    // Records are symlinks whose target is JSON: never follow them.
    const fs::file_status status = it->symlink_status();
    std::string suffix = fs::is_directory(status) ? "/" : "";
    if (fs::is_regular_file(status)) suffix = "  (" + std::to_string(it->file_size()) + " bytes)";
    if (fs::is_symlink(status)) suffix = "  (symlink: a record, claim or root reference)";
    struct stat st;
    if (fs::is_directory(status) && lstat(it->path().c_str(), &st) == 0) {
      char mode[16];
      std::snprintf(mode, sizeof(mode), "  [%04o]", st.st_mode & 07777);
      suffix += mode;
    }
    lines.push_back("   " + indent + it->path().filename().string() + suffix);
  }
  std::printf("   NFS server export:\n");
  for (size_t i = 0; i < lines.size() && i < 60; ++i) std::printf("%s\n", lines[i].c_str());
  if (lines.size() > 60) std::printf("   ... %zu more\n", lines.size() - 60);
}

::csi::v1::VolumeCapability MountCapability() {
  ::csi::v1::VolumeCapability c;
  c.mutable_mount();
  c.mutable_access_mode()->set_mode(::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  return c;
}

int Run() {
  std::printf("nfsprov demo: the CSI driver against a real NFS server, no kernel NFS client.\n");
  auto server = testing::GaneshaServer::Start();
  if (!server.ok()) Die(server.status().ToString());
  const std::string url = (*server)->Url();
  const std::string exported = (*server)->export_dir();
  std::printf("nfs-ganesha serves %s on 127.0.0.1:%d (NFSv4)\n", exported.c_str(), (*server)->port());

  std::string socket = fs::temp_directory_path() / ("nfsprov-demo-" + std::to_string(getpid()) + ".sock");
  Result<int> metrics_port = testing::PickFreePort();
  if (!metrics_port.ok()) Die(metrics_port.status().ToString());
  const std::string metrics_address = "127.0.0.1:" + std::to_string(*metrics_port);
  auto driver = DriverProcess::Start(
      {"controller", "--share", url, "--reap-interval", "1", "--metrics-address", metrics_address}, socket);
  if (!driver.ok()) Die(driver.status().ToString());
  std::printf("nfsprov controller serves unix://%s, metrics on http://%s/metrics\n", socket.c_str(),
              metrics_address.c_str());
  auto identity = Identity::NewStub((*driver)->Channel());
  auto controller = Controller::NewStub((*driver)->Channel());

  Step(1, "GetPluginInfo");
  {
    grpc::ClientContext ctx;
    ::csi::v1::GetPluginInfoResponse info;
    Check(identity->GetPluginInfo(&ctx, {}, &info), "GetPluginInfo");
    std::printf("   driver %s version %s\n", info.name().c_str(), info.vendor_version().c_str());
  }

  std::map<std::string, std::string> parameters = {
      {"server", "127.0.0.1"},
      {"share", "/export"},
      {"port", std::to_string((*server)->port())},
      {"subDir", "${pvc.metadata.namespace}/${pvc.metadata.name}"},
      {"onDelete", "delete"},
  };
  auto create = [&](const std::string& name, const std::string& pvc, int64_t bytes,
                    const ::csi::v1::VolumeContentSource* source) {
    ::csi::v1::CreateVolumeRequest request;
    request.set_name(name);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    *request.add_volume_capabilities() = MountCapability();
    for (const auto& [k, v] : parameters) (*request.mutable_parameters())[k] = v;
    (*request.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = pvc;
    (*request.mutable_parameters())["csi.storage.k8s.io/pvc/namespace"] = "shop";
    (*request.mutable_parameters())["csi.storage.k8s.io/pv/name"] = name;
    if (source != nullptr) *request.mutable_volume_content_source() = *source;
    grpc::ClientContext ctx;
    ::csi::v1::CreateVolumeResponse response;
    Check(controller->CreateVolume(&ctx, request, &response), "CreateVolume");
    std::printf("   %s -> volume_id %s\n", name.c_str(), response.volume().volume_id().c_str());
    std::printf("   volume_context:");
    for (const auto& [k, v] : response.volume().volume_context()) std::printf(" %s=%s", k.c_str(), v.c_str());
    std::printf("\n");
    return response.volume();
  };

  Step(2, "CreateVolume pvc-1111 (PVC shop/cart-data, 1 GiB, subDir ${pvc.metadata.namespace}/${pvc.metadata.name})");
  ::csi::v1::Volume volume = create("pvc-1111", "cart-data", 1 << 30, nullptr);
  PrintTree(exported);

  Step(3, "The node plugin (FUSE mounter) stages the volume and publishes it to two pods: rw and ro");
  const std::string node_dir = fs::temp_directory_path() / ("nfsprov-demo-node-" + std::to_string(getpid()));
  fs::create_directories(node_dir + "/staging");
  auto node = DriverProcess::Start({"node", "--node-id", "demo-node", "--mounter", "fuse",
                                    "--state-dir", node_dir + "/state"},
                                   node_dir + "/node.sock");
  if (!node.ok()) Die(node.status().ToString());
  auto node_stub = ::csi::v1::Node::NewStub((*node)->Channel());
  const std::string staging = node_dir + "/staging", writer = node_dir + "/pod-writer",
                    reader = node_dir + "/pod-reader";
  {
    ::csi::v1::NodeStageVolumeRequest request;
    request.set_volume_id(volume.volume_id());
    request.set_staging_target_path(staging);
    *request.mutable_volume_capability() = MountCapability();
    *request.mutable_volume_context() = volume.volume_context();
    grpc::ClientContext ctx;
    ::csi::v1::NodeStageVolumeResponse response;
    Check(node_stub->NodeStageVolume(&ctx, request, &response), "NodeStageVolume");
    for (const auto& [target, readonly] : {std::pair{writer, false}, std::pair{reader, true}}) {
      ::csi::v1::NodePublishVolumeRequest publish;
      publish.set_volume_id(volume.volume_id());
      publish.set_staging_target_path(staging);
      publish.set_target_path(target);
      publish.set_readonly(readonly);
      *publish.mutable_volume_capability() = MountCapability();
      *publish.mutable_volume_context() = volume.volume_context();
      grpc::ClientContext publish_ctx;
      ::csi::v1::NodePublishVolumeResponse published;
      Check(node_stub->NodePublishVolume(&publish_ctx, publish, &published), "NodePublishVolume");
    }
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);)
      if (line.find(node_dir) != std::string::npos) std::printf("   mountinfo: %s\n", line.c_str());
  }
  std::printf("   the writer pod writes cart.json and sessions/s1 through its mount\n");
  std::ofstream(writer + "/cart.json") << R"({"items":["apple","pear"]})";
  fs::create_directories(writer + "/sessions");
  std::ofstream(writer + "/sessions/s1") << "session one";
  std::ifstream read_back(reader + "/cart.json");
  std::string seen((std::istreambuf_iterator<char>(read_back)), std::istreambuf_iterator<char>());
  std::printf("   the reader pod reads cart.json: %s\n", seen.c_str());
  std::ofstream refused(reader + "/nope");
  std::printf("   the reader pod tries to write: %s\n", refused ? "allowed (wrong!)" : "refused (read-only)");
  PrintTree(exported);
  auto node_call = [&](const char* what, auto call) {
    grpc::ClientContext ctx;
    Check(call(ctx), what);
  };
  for (const std::string& target : {writer, reader}) {
    node_call("NodeUnpublishVolume", [&](grpc::ClientContext& ctx) {
      ::csi::v1::NodeUnpublishVolumeRequest request;
      request.set_volume_id(volume.volume_id());
      request.set_target_path(target);
      ::csi::v1::NodeUnpublishVolumeResponse response;
      return node_stub->NodeUnpublishVolume(&ctx, request, &response);
    });
  }
  node_call("NodeUnstageVolume", [&](grpc::ClientContext& ctx) {
    ::csi::v1::NodeUnstageVolumeRequest request;
    request.set_volume_id(volume.volume_id());
    request.set_staging_target_path(staging);
    ::csi::v1::NodeUnstageVolumeResponse response;
    return node_stub->NodeUnstageVolume(&ctx, request, &response);
  });
  std::printf("   unpublished and unstaged: nothing of the volume is mounted any more\n");
  node->reset();
  fs::remove_all(node_dir);

  Step(4, "CreateVolume again with the same name: idempotent, same volume");
  create("pvc-1111", "cart-data", 1 << 30, nullptr);

  Step(5, "ListVolumes");
  {
    grpc::ClientContext ctx;
    ::csi::v1::ListVolumesResponse list;
    Check(controller->ListVolumes(&ctx, {}, &list), "ListVolumes");
    for (const auto& e : list.entries())
      std::printf("   %s  %lld bytes  healthy=%s\n", e.volume().volume_id().c_str(),
                  static_cast<long long>(e.volume().capacity_bytes()),
                  e.status().volume_condition().abnormal() ? "no" : "yes");
  }

  Step(6, "ControllerExpandVolume to 2 GiB");
  {
    ::csi::v1::ControllerExpandVolumeRequest request;
    request.set_volume_id(volume.volume_id());
    request.mutable_capacity_range()->set_required_bytes(int64_t{2} << 30);
    grpc::ClientContext ctx;
    ::csi::v1::ControllerExpandVolumeResponse response;
    Check(controller->ControllerExpandVolume(&ctx, request, &response), "ControllerExpandVolume");
    std::printf("   capacity now %lld bytes, node expansion required: %s\n",
                static_cast<long long>(response.capacity_bytes()),
                response.node_expansion_required() ? "yes" : "no");
  }

  Step(7, "CreateSnapshot snap-1 (a server-side copy of the volume tree)");
  ::csi::v1::Snapshot snapshot;
  {
    ::csi::v1::CreateSnapshotRequest request;
    request.set_name("snap-1");
    request.set_source_volume_id(volume.volume_id());
    grpc::ClientContext ctx;
    ::csi::v1::CreateSnapshotResponse response;
    Check(controller->CreateSnapshot(&ctx, request, &response), "CreateSnapshot");
    snapshot = response.snapshot();
    std::printf("   snapshot_id %s ready=%s size=%lld bytes\n", snapshot.snapshot_id().c_str(),
                snapshot.ready_to_use() ? "true" : "false", static_cast<long long>(snapshot.size_bytes()));
  }
  PrintTree(exported);

  Step(8, "CreateVolume pvc-2222 from the snapshot, and pvc-3333 as a clone of pvc-1111");
  ::csi::v1::VolumeContentSource from_snapshot;
  from_snapshot.mutable_snapshot()->set_snapshot_id(snapshot.snapshot_id());
  ::csi::v1::Volume restored = create("pvc-2222", "cart-restored", 1 << 30, &from_snapshot);
  ::csi::v1::VolumeContentSource from_volume;
  from_volume.mutable_volume()->set_volume_id(volume.volume_id());
  ::csi::v1::Volume clone = create("pvc-3333", "cart-clone", 1 << 30, &from_volume);
  PrintTree(exported);

  Step(9, "DeleteVolume pvc-1111: the directory is renamed into the trash at once; the reaper removes it");
  auto remove = [&](const std::string& id) {
    ::csi::v1::DeleteVolumeRequest request;
    request.set_volume_id(id);
    grpc::ClientContext ctx;
    ::csi::v1::DeleteVolumeResponse response;
    auto start = std::chrono::steady_clock::now();
    Check(controller->DeleteVolume(&ctx, request, &response), "DeleteVolume");
    std::printf("   deleted in %.1f ms\n",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  };
  remove(volume.volume_id());
  PrintTree(exported);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("   ...two seconds later, after the reaper:\n");
  PrintTree(exported);

  Step(10, "DeleteSnapshot and the remaining volumes");
  {
    ::csi::v1::DeleteSnapshotRequest request;
    request.set_snapshot_id(snapshot.snapshot_id());
    grpc::ClientContext ctx;
    ::csi::v1::DeleteSnapshotResponse response;
    Check(controller->DeleteSnapshot(&ctx, request, &response), "DeleteSnapshot");
  }
  remove(restored.volume_id());
  remove(clone.volume_id());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  PrintTree(exported);

  Step(11, "Shared root: two API replicas' PVCs bind to one directory, a read-only plugins class inside it");
  {
    auto create_shared = [&](const std::string& name, std::map<std::string, std::string> extra,
                             ::csi::v1::VolumeCapability::AccessMode::Mode mode) {
      ::csi::v1::CreateVolumeRequest request;
      request.set_name(name);
      ::csi::v1::VolumeCapability capability = MountCapability();
      capability.mutable_access_mode()->set_mode(mode);
      *request.add_volume_capabilities() = capability;
      (*request.mutable_parameters())["server"] = "127.0.0.1";
      (*request.mutable_parameters())["share"] = "/export";
      (*request.mutable_parameters())["port"] = std::to_string((*server)->port());
      for (const auto& [k, v] : extra) (*request.mutable_parameters())[k] = v;
      grpc::ClientContext ctx;
      ::csi::v1::CreateVolumeResponse response;
      grpc::Status status = controller->CreateVolume(&ctx, request, &response);
      std::printf("   CreateVolume %s -> %s\n", name.c_str(),
                  status.ok() ? ("subDir=" + response.volume().volume_context().at("subDir")).c_str()
                              : status.error_message().c_str());
      return response.volume().volume_id();
    };
    const auto rwx = ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER;
    const auto rox = ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
    std::string api0 = create_shared("pvc-api-0", {{"sharedRoot", "api"}}, rwx);
    std::string api1 = create_shared("pvc-api-1", {{"sharedRoot", "api"}}, rwx);
    std::string plugins = create_shared("pvc-plugins", {{"sharedRoot", "api"}, {"subDir", "plugins"}, {"readOnly", "true"}}, rox);
    std::printf("   a read-only class asked for ReadWriteMany is refused:\n");
    create_shared("pvc-plugins-rw", {{"sharedRoot", "api"}, {"subDir", "plugins"}, {"readOnly", "true"}}, rwx);
    std::ofstream(exported + "/api/cache.db") << "shared state";
    PrintTree(exported);
    std::printf("   deleting pvc-api-0 and pvc-plugins: api/ is still referenced by pvc-api-1, so it stays\n");
    remove(api0);
    remove(plugins);
    std::printf("   api/cache.db still there: %s\n", fs::exists(exported + "/api/cache.db") ? "yes" : "NO (wrong!)");
    std::printf("   deleting pvc-api-1, the last reference: onDelete (default retain for shared roots) keeps api/\n");
    remove(api1);
    PrintTree(exported);
  }

  Step(12, "What the controller's metrics endpoint counted (Prometheus text format)");
  {
    httplib::Client http("127.0.0.1", *metrics_port);
    httplib::Result health = http.Get("/healthz");
    httplib::Result metrics = http.Get("/metrics");
    if (!health || !metrics) Die("cannot reach http://" + metrics_address);
    std::printf("   GET /healthz: %d %s", health->status, health->body.c_str());
    std::istringstream lines(metrics->body);
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with("nfsprov_grpc_requests_total") || line.starts_with("nfsprov_volumes") ||
          line.starts_with("nfsprov_reaper_backlog"))
        std::printf("   %s\n", line.c_str());
  }

  Step(13, "Stop: SIGTERM to the controller (graceful), then the NFS server");
  Status stopped = (*driver)->Stop();
  if (!stopped.ok()) Die(stopped.ToString());
  std::printf("   controller stopped; socket removed: %s\n", fs::exists(socket) ? "no" : "yes");
  std::printf("\nDemo finished. Nothing is left running.\n");
  return 0;
}

}  // namespace
}  // namespace nfsprov::e2e

int main() { return nfsprov::e2e::Run(); }
