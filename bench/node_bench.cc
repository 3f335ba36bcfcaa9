// Node plugin benchmark: memory of `nfsprov node` (FUSE mounter) idle and with 50 staged volumes,
// next to the controller's idle memory measured in the same run, and how long a stage takes.
//
// Memory is read from /proc/PID/status (VmRSS, RssAnon, RssFile) and smaps_rollup (Pss). RSS
// counts the shared libraries' pages the process touched (gRPC alone is ~5 MiB of them); RssAnon
// is what the process itself allocated. The FUSE daemons are separate processes (one per staged
// volume); their total is printed too.
//
// The node runs with its default --idle-trim-after (60 s, common/idle_trim.h): "node.started" is
// its memory 2 s after start, "node.idle" after it has been left alone for the quiet spell, and
// the first calls after that spell are timed against the same calls warm (what the trim costs).
// The node runs as in its container, from private copies of its shared libraries: this process
// links gRPC too, and pages that two processes map are not the node's alone (the trim leaves them).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench/bench_server.h"
#include "bench/report.h"
#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/proc_memory.h"
#include "tests/support/private_libraries.h"

namespace nfsprov::bench {
namespace {

namespace fs = std::filesystem;
constexpr int kVolumes = 50;
constexpr auto kIdleTrimAfter = std::chrono::seconds(60);  // nfsprov node's default
constexpr double kKiB = 1024.0;

struct Memory {
  double rss_mib = 0, anon_mib = 0, file_mib = 0, pss_mib = 0;
};

using testing::ProcKb;

Memory MemoryOf(int pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  return {ProcKb(proc + "/status", "VmRSS") / kKiB, ProcKb(proc + "/status", "RssAnon") / kKiB,
          ProcKb(proc + "/status", "RssFile") / kKiB, ProcKb(proc + "/smaps_rollup", "Pss") / kKiB};
}

void EmitMemory(const std::string& name, const Memory& m) {
  Emit(name + ".rss", "MiB", m.rss_mib);
  Emit(name + ".rss_anon", "MiB", m.anon_mib);
  Emit(name + ".rss_file", "MiB", m.file_mib);
  Emit(name + ".pss", "MiB", m.pss_mib);
}

// Started (it answered a Probe), then left alone for a moment.
Memory SettledMemory(const e2e::DriverProcess& process) {
  std::this_thread::sleep_for(std::chrono::seconds(2));
  return MemoryOf(process.pid());
}

// Left alone for the node's quiet spell, so that it has trimmed, and a few seconds more.
Memory IdleMemory(const e2e::DriverProcess& process) {
  std::this_thread::sleep_for(kIdleTrimAfter + std::chrono::seconds(5));
  return MemoryOf(process.pid());
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

::csi::v1::VolumeCapability Capability() {
  ::csi::v1::VolumeCapability c;
  c.mutable_mount();
  c.mutable_access_mode()->set_mode(::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  return c;
}

void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.error_message());
}

// Memory of the fuse-mount daemons whose pid files are in `dir`, summed.
Memory DaemonsMemory(const std::string& dir) {
  Memory total;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".pid") continue;
    std::ifstream in(entry.path());
    int pid = 0;
    if (!(in >> pid)) continue;
    Memory m = MemoryOf(pid);
    total.rss_mib += m.rss_mib;
    total.anon_mib += m.anon_mib;
    total.file_mib += m.file_mib;
    total.pss_mib += m.pss_mib;
  }
  return total;
}

int Main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));
  auto server = StartBenchServer();
  const std::string work = fs::temp_directory_path() / ("nfsprov-node-bench-" + std::to_string(getpid()));
  fs::create_directories(work + "/state");

  auto controller = Must(e2e::DriverProcess::Start({"controller", "--share", server->Url()},
                                                   work + "/controller.sock"));
  Memory controller_idle = SettledMemory(*controller);
  controller.reset();

  const int copied = Must(testing::UsePrivateLibraryCopies(e2e::DriverBinary(), work + "/lib"));
  spdlog::info("the node plugin loads its {} shared libraries from private copies in {}/lib", copied, work);

  auto node = Must(e2e::DriverProcess::Start(
      {"node", "--node-id", "bench", "--mounter", "fuse", "--state-dir", work + "/state"},
      work + "/node.sock"));
  auto stub = ::csi::v1::Node::NewStub(node->Channel());
  auto get_capabilities_ms = [&stub] {
    grpc::ClientContext ctx;
    ::csi::v1::NodeGetCapabilitiesResponse response;
    const auto start = std::chrono::steady_clock::now();
    Check(stub->NodeGetCapabilities(&ctx, {}, &response), "NodeGetCapabilities");
    return MsSince(start);
  };
  get_capabilities_ms();  // the registrar's first calls, before the plugin is left alone
  EmitMemory("node.started", SettledMemory(*node));
  spdlog::info("leaving the node plugin alone for {} s (its --idle-trim-after) and 5 s more",
               kIdleTrimAfter.count());
  Memory idle = IdleMemory(*node);
  EmitMemory("node.idle", idle);
  EmitMemory("controller.idle", controller_idle);
  EmitVs("node.idle_rss_vs_goal", "MiB", idle.rss_mib, "goal_10_mib", 10.0, 10.0 / idle.rss_mib);

  // What the trim costs: the first call after it faults its pages back in.
  const double first_call_ms = get_capabilities_ms();
  std::vector<double> warm_ms;
  for (int i = 0; i < 50; ++i) warm_ms.push_back(get_capabilities_ms());
  std::sort(warm_ms.begin(), warm_ms.end());
  EmitVs("node.first_call_after_idle_trim", "ms", first_call_ms, "warm_call_p50",
         warm_ms[warm_ms.size() / 2], warm_ms[warm_ms.size() / 2] / first_call_ms);

  std::vector<double> stage_ms;
  for (int i = 0; i < kVolumes; ++i) {
    const std::string name = "vol-" + std::to_string(i);
    fs::create_directories(server->export_dir() + "/" + name);
    ::csi::v1::NodeStageVolumeRequest r;
    r.set_volume_id(name);
    r.set_staging_target_path(work + "/staging/" + name);
    *r.mutable_volume_capability() = Capability();
    (*r.mutable_volume_context())["server"] = "127.0.0.1";
    (*r.mutable_volume_context())["share"] = "/export";
    (*r.mutable_volume_context())["subDir"] = name;
    (*r.mutable_volume_context())["port"] = std::to_string(server->port());
    grpc::ClientContext ctx;
    ::csi::v1::NodeStageVolumeResponse response;
    auto start = std::chrono::steady_clock::now();
    Check(stub->NodeStageVolume(&ctx, r, &response), "stage " + name);
    stage_ms.push_back(MsSince(start));
  }
  // The first stage after the trim: the NodeGetCapabilities calls above brought gRPC's pages
  // back, the staging code's were still given back (its daemon is a fresh process anyway).
  const double first_stage_ms = stage_ms.front();
  std::sort(stage_ms.begin(), stage_ms.end());
  const double stage_p50 = stage_ms[stage_ms.size() / 2];
  Emit("node.stage_fuse_volume_p50", "ms", stage_p50);
  EmitVs("node.first_stage_after_idle_trim", "ms", first_stage_ms, "stage_p50", stage_p50,
         stage_p50 / first_stage_ms);
  EmitMemory("node.50_staged", SettledMemory(*node));
  EmitMemory("node.50_staged.fuse_daemons_total", DaemonsMemory(work + "/state/fuse"));
  spdlog::info("leaving the node plugin with 50 staged volumes alone for {} s and 5 s more",
               kIdleTrimAfter.count());
  EmitMemory("node.50_staged_idle", IdleMemory(*node));

  for (int i = 0; i < kVolumes; ++i) {
    ::csi::v1::NodeUnstageVolumeRequest r;
    r.set_volume_id("vol-" + std::to_string(i));
    r.set_staging_target_path(work + "/staging/vol-" + std::to_string(i));
    grpc::ClientContext ctx;
    ::csi::v1::NodeUnstageVolumeResponse response;
    Check(stub->NodeUnstageVolume(&ctx, r, &response), "unstage " + r.volume_id());
  }
  node.reset();
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}

}  // namespace
}  // namespace nfsprov::bench

int main() { return nfsprov::bench::Main(); }
