// nfsprov_quota_bench: the quota goals of issue 6, against one nfs-ganesha on loopback, every
// baseline measured in the same run on the same tree.
//
// Prints one JSON line per measurement (bench/report.h).
//  - usage_scan_100k_files: the controller's usage scanner measuring a volume of 99,900 files in
//    111 directories (the scan time it records itself, best of 3 after an untimed warm-up scan)
//    against two sequential scans of the same volume, each best of 2:
//      * du_over_mount: `du -s` over a FUSE mount of the volume (`nfsprov fuse-mount`), one
//        system call at a time: what a node-side du (kubelet's du-based metrics) costs;
//      * engine_one_rpc_in_flight: the same tree engine allowed one request at a time.
//    ratio = baseline time / scanner time (> 1: the scanner is faster; goal >= 5).
//  - over_quota_to_erofs: a volume of a quotaEnforcement=readonly class with the default usage
//    interval (60 s) and poll (2 s), written past its capacity through a FUSE mount with quota
//    enforcement: the seconds from the write that crossed the quota to the first write refused
//    with EROFS. The bound is one interval plus one poll.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "bench/fuse_child.h"
#include "bench/bench_server.h"
#include "bench/report.h"
#include "nfs/tree.h"
#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/local_tree.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;
using Seconds = std::chrono::duration<double>;
using bench::Die;
using bench::Must;

double Timed(const std::function<void()>& work) {
  auto start = std::chrono::steady_clock::now();
  work();
  return Seconds(std::chrono::steady_clock::now() - start).count();
}

std::map<std::string, std::string> Parameters(const testing::GaneshaServer& server,
                                              std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> parameters = {
      {"server", "127.0.0.1"}, {"share", "/export"}, {"port", std::to_string(server.port())}};
  for (auto& [k, v] : extra) parameters[k] = v;
  return parameters;
}

// Waits for the usage record of `key` written after `after_ms` (unix ms).
UsageRecord WaitForScan(MetadataStore& store, const std::string& key, int64_t after_ms) {
  for (int i = 0; i < 6000; ++i) {
    std::optional<UsageRecord> usage = Must(store.GetUsage(key));
    if (usage && usage->scanned_unix_ms > after_ms) return *usage;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Die("the usage scanner never measured " + key);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void UsageScanBenchmark(testing::GaneshaServer& server) {
  ControllerOptions options;
  options.usage.interval = std::chrono::hours(24);  // only Track() below starts a scan
  Controller controller(options);
  const Volume volume = Must(controller.CreateVolume({"pv-scan", {}, Parameters(server), {}, ""}));
  testing::TreeShape shape;  // 1 + 10 + 100 directories, 900 files each: 99,900 files
  shape.fanout_dirs = 10;
  shape.levels = 2;
  shape.files_per_dir = 900;
  shape.file_bytes = 0;
  const testing::TreeCount count = Must(testing::MakeTree(server.export_dir() + "/pv-scan/tree", shape));
  ShareHandle share = Must(controller.shares().Get(volume.share));

  double scanner_s = 1e9;
  for (int round = 0; round < 4; ++round) {  // round 0 warms the server's cache, untimed
    const int64_t before = NowMs();
    share.usage->Track(volume.record, /*scan_now=*/true);
    UsageRecord usage = WaitForScan(*share.store, volume.record.key, before);
    if (static_cast<uint64_t>(usage.used_inodes) != count.entries() + 1) Die("the scanner miscounted");
    if (round > 0) scanner_s = std::min(scanner_s, usage.scan_ms / 1000.0);
  }

  double engine_s = 1e9;
  for (int round = 0; round < 2; ++round) {
    engine_s = std::min(engine_s, Timed([&] {
      Must(nfs::ScanTree(*share.client, "/pv-scan", nfs::TreeOptions{1}));
    }));
  }

  const std::string target = fs::temp_directory_path() / ("nfsprov-quota-bench-" + std::to_string(getpid()));
  fs::create_directories(target);
  double du_s = 1e9;
  {
    bench::FuseChild mount(NFSPROV_BINARY,
                           "nfs://127.0.0.1/export/pv-scan?version=4&nfsport=" + std::to_string(server.port()),
                           target);
    for (int round = 0; round < 2; ++round) {
      du_s = std::min(du_s, Timed([&] {
        if (std::system(("du -s " + target + " > /dev/null").c_str()) != 0) Die("du over the mount failed");
      }));
    }
  }
  fs::remove(target);
  bench::EmitVs("quota.usage_scan_100k_files", "s", scanner_s, "du_over_fuse_mount", du_s, du_s / scanner_s);
  bench::EmitVs("quota.usage_scan_100k_files", "s", scanner_s, "engine_one_rpc_in_flight", engine_s,
                engine_s / scanner_s);
}

// Writes a small new file through the mount; the errno, or 0.
int TryWrite(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return errno;
  int error = write(fd, "x", 1) == 1 ? 0 : errno;
  if (close(fd) != 0 && error == 0) error = errno;
  return error;
}

void OverQuotaBenchmark(testing::GaneshaServer& server) {
  Controller controller(ControllerOptions{});  // the default usage interval
  const auto interval = std::chrono::duration<double>(UsageScanOptions{}.interval).count();
  CreateVolumeArgs args{"pv-quota", {4 << 20, 0}, Parameters(server, {{"quotaEnforcement", "readonly"}}), {}, ""};
  const Volume volume = Must(controller.CreateVolume(args));
  const std::string target = fs::temp_directory_path() / ("nfsprov-quota-bench-" + std::to_string(getpid()));
  fs::create_directories(target);
  const std::string port = std::to_string(server.port());
  double seconds = 0;
  {
    bench::FuseChild mount(NFSPROV_BINARY, "nfs://127.0.0.1/export/pv-quota?version=4&nfsport=" + port, target,
                           {"--quota-share", "nfs://127.0.0.1/export?version=4&nfsport=" + port, "--quota-key",
                            volume.record.key});
    std::string crossing(5 << 20, 'x');
    int fd = open((target + "/fill").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, crossing.data(), crossing.size()) != static_cast<ssize_t>(crossing.size()) ||
        close(fd) != 0)
      Die("filling the volume failed");
    const auto crossed = std::chrono::steady_clock::now();
    int error = 0;
    for (int i = 0; (error = TryWrite(target + "/probe")) == 0; ++i) {
      if (Seconds(std::chrono::steady_clock::now() - crossed).count() > 3 * interval) Die("writes never refused");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (error != EROFS) Die("a write failed with errno " + std::to_string(error) + ", not EROFS");
    seconds = Seconds(std::chrono::steady_clock::now() - crossed).count();
  }
  fs::remove_all(target);
  // The bound: one scan interval plus one poll of the mount (2 s).
  bench::EmitVs("quota.over_quota_to_erofs", "s", seconds, "usage_interval_plus_poll", interval + 2,
                (interval + 2) / seconds);
}

int Main() {
  spdlog::set_level(spdlog::level::warn);
  auto server = bench::StartBenchServer();
  UsageScanBenchmark(*server);
  OverQuotaBenchmark(*server);
  return 0;
}

}  // namespace
}  // namespace nfsprov

int main() { return nfsprov::Main(); }
