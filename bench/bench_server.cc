#include "bench/bench_server.h"

#include <sys/vfs.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include <linux/magic.h>

#include "bench/report.h"

namespace nfsprov::bench {
namespace {

constexpr const char* kTmpfs = "/dev/shm";

bool IsTmpfs(const char* dir) {
  struct statfs fs = {};
  return ::statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

// The parent directory of the export, and why it was chosen.
std::pair<std::string, std::string> ExportParent() {
  if (const char* chosen = std::getenv("NFSPROV_BENCH_EXPORT_PARENT"); chosen != nullptr && *chosen != '\0')
    return {chosen, "NFSPROV_BENCH_EXPORT_PARENT"};
  if (IsTmpfs(kTmpfs)) return {kTmpfs, "tmpfs"};
  return {"", std::string(kTmpfs) + " is not tmpfs; the disk's costs are in every number"};
}

}  // namespace

std::unique_ptr<testing::GaneshaServer> StartBenchServer() {
  auto [parent, why] = ExportParent();
  testing::GaneshaOptions options;
  options.parent_dir = parent;
  std::unique_ptr<testing::GaneshaServer> server = Must(testing::GaneshaServer::Start(options));
  // stderr, not spdlog: some benchmarks mute info lines while they time.
  std::fprintf(stderr, "nfs-ganesha exports %s (%s)\n", server->export_dir().c_str(), why.c_str());
  return server;
}

}  // namespace nfsprov::bench
