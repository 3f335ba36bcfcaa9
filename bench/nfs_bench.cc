// make bench: NFS layer measurements against a real nfs-ganesha, on two paths to it.
//
// Prints one JSON line per measurement: {"name","unit","value"} and, for comparisons,
// "baseline", "baseline_value" and "ratio" (> 1 means we are better). Every baseline is measured
// in the same run against the same server, through the same path. Each measurement runs twice:
// on loopback (".loopback") and through a DelayProxy that adds 0.5 ms each way (".rtt_1ms"), like
// a network. On loopback this server is CPU-bound (~70 us per RPC whatever the concurrency), so
// only the 1 ms path shows what pipelining is for: hiding round trips.
//  - raw pipelined MKDIR/s and file REMOVE/s: handle-based COMPOUNDs with 64 in flight, the most
//    this server does; the physical limit the engine is compared with;
//  - usage scan of 100,000 files: pipelined vs one RPC at a time, after an untimed warm-up scan,
//    alternating, best of two each (the server's cache favours whichever runs later);
//  - tree delete of 100,000 files: the pipelined engine vs the same engine one RPC at a time (on
//    a 10,000-file subset of the same shape through the 1 ms path, where the full tree would take
//    minutes), and vs raw REMOVE/s.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "nfs/client.h"
#include "nfs/libnfs_call.h"
#include "bench/bench_server.h"
#include "bench/report.h"
#include "nfs/nfs4_compound.h"
#include "nfs/tree.h"
#include "tests/support/delay_proxy.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/local_tree.h"

namespace nfsprov {
namespace {

using Seconds = std::chrono::duration<double>;

using bench::Die;
using bench::Emit;
using bench::EmitVs;
using bench::Must;

nfs::nfs4::FileHandle HandleOf(nfs::Client& client, const std::string& path) {
  auto c = std::make_shared<nfs::nfs4::Compound>("lookup " + path);
  c->PutPath(client.url().export_path, path).GetFh();
  std::size_t index = c->size() - 1;
  return Must(nfs::internal::CallSync<nfs::nfs4::FileHandle>(
      client.NextLoop(), client.Deadline(), "lookup " + path,
      [c, index](nfs_context* ctx, std::shared_ptr<nfs::nfs4::FileHandle> out, nfs::EventLoop::Done done) {
        c->Send(ctx, [out, done, index](int err, std::string m, const COMPOUND4res* res) {
          if (err == 0) *out = nfs::nfs4::FileHandleAt(*res, index);
          done(err, std::move(m));
        });
      }));
}

// Sends make(i) for i in [0, n) with `window` COMPOUNDs in flight; returns requests per second.
double Pipelined(nfs::EventLoop& loop, int n, int window,
                 std::function<std::shared_ptr<nfs::nfs4::Compound>(int)> make) {
  std::promise<int> finished;
  auto start = std::chrono::steady_clock::now();
  loop.Post([&] {
    struct State { int next = 0, done = 0, failed = 0; };
    auto state = std::make_shared<State>();
    auto issue = std::make_shared<std::function<void()>>();
    *issue = [&, state, issue] {
      int i = state->next++;
      auto c = make(i);
      loop.Run([c](nfs_context* ctx, nfs::EventLoop::Done done) {
                 c->Send(ctx, [done](int err, std::string m, const COMPOUND4res*) { done(err, m); });
               },
               nfs::Clock::now() + std::chrono::seconds(60),
               [&, state, issue](int err, std::string) {
                 if (err != 0) ++state->failed;
                 if (++state->done == n) return finished.set_value(state->failed);
                 if (state->next < n) (*issue)();
               });
    };
    for (int k = 0; k < window && k < n; ++k) (*issue)();
  });
  int failed = finished.get_future().get();
  double seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  if (failed > 0) Die(std::to_string(failed) + " raw requests failed");
  return n / seconds;
}

// One path to the server; its measurements are named "<measurement>.<name>".
struct Path {
  std::string name;
  nfs::Client& client;
  // One RPC at a time through a slow path would take minutes on the full tree, so the
  // sequential delete runs on a subset of the same shape there (files/s stay comparable).
  bool sequential_subset;
};

double Timed(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return Seconds(std::chrono::steady_clock::now() - start).count();
}

// Makes `shape` at `tree` and scans it once untimed, so that no timed run on it is the one that
// fills the server's cache.
testing::TreeCount MakeWarmTree(testing::GaneshaServer& server, nfs::Client& client,
                                const std::string& tree, const testing::TreeShape& shape) {
  testing::TreeCount count = Must(testing::MakeTree(server.export_dir() + tree, shape));
  Must(nfs::ScanTree(client, tree));
  return count;
}

// Emits raw pipelined MKDIR/s and file REMOVE/s through `path`; returns REMOVE/s.
double RawServerLimits(testing::GaneshaServer& server, const Path& path) {
  constexpr int kOps = 20000;
  const std::string mkdirs = "/raw_mkdir." + path.name, removes = "/raw_remove." + path.name;
  if (mkdir((server.export_dir() + mkdirs).c_str(), 0755) != 0) Die("mkdir " + mkdirs);
  testing::TreeShape files;  // f0 .. f19999, warm like the trees the engine deletes
  files.levels = 0;
  files.files_per_dir = kOps;
  files.file_bytes = 0;
  MakeWarmTree(server, path.client, removes, files);

  nfs::nfs4::FileHandle parent = HandleOf(path.client, mkdirs);
  double mkdir_rate = Pipelined(path.client.NextLoop(), kOps, 64, [&](int i) {
    auto c = std::make_shared<nfs::nfs4::Compound>("mkdir");
    c->PutFh(parent).CreateDir("d" + std::to_string(i), {});
    return c;
  });
  Emit("nfs.raw_pipelined_mkdir." + path.name, "ops/s", mkdir_rate);

  parent = HandleOf(path.client, removes);
  double remove_rate = Pipelined(path.client.NextLoop(), kOps, 64, [&](int i) {
    auto c = std::make_shared<nfs::nfs4::Compound>("remove");
    c->PutFh(parent).Remove("f" + std::to_string(i));
    return c;
  });
  Emit("nfs.raw_pipelined_remove." + path.name, "ops/s", remove_rate);

  // Leaves the server's cache to the trees measured next.
  for (const std::string& dir : {mkdirs, removes}) Must(nfs::RemoveTree(path.client, dir));
  return remove_rate;
}

testing::TreeShape HundredThousandFiles() {
  testing::TreeShape shape;  // 1 + 10 + 100 directories, 900 files each: 99,900 files
  shape.fanout_dirs = 10;
  shape.levels = 2;
  shape.files_per_dir = 900;
  shape.file_bytes = 0;
  return shape;
}

testing::TreeShape TenThousandFiles() {
  testing::TreeShape shape = HundredThousandFiles();  // 1 + 10 directories: 9,900 files
  shape.levels = 1;
  return shape;
}

double ScanRate(nfs::Client& client, const std::string& tree, const testing::TreeCount& count,
                nfs::TreeOptions options) {
  nfs::TreeStats scan;
  double seconds = Timed([&] { scan = Must(nfs::ScanTree(client, tree, options)); });
  if (scan.inodes() != count.entries()) Die("scan miscounted " + tree);
  return static_cast<double>(count.entries()) / seconds;
}

double DeleteRate(nfs::Client& client, const std::string& tree, const testing::TreeCount& count,
                  nfs::TreeOptions options, nfs::TreeStats* removed) {
  double seconds = Timed([&] { *removed = Must(nfs::RemoveTree(client, tree, options)); });
  if (removed->files != count.files) Die("delete missed files in " + tree);
  return static_cast<double>(count.files) / seconds;
}

nfs::TreeOptions OneRpcInFlight() {
  nfs::TreeOptions options;
  options.max_in_flight = 1;
  return options;
}

// Alternating, best of two each: the server's cache favours whichever mode runs later.
void ScanBenchmark(const Path& path, const std::string& tree, const testing::TreeCount& count) {
  double pipelined = 0, sequential = 0;
  for (int round = 0; round < 2; ++round) {
    pipelined = std::max(pipelined, ScanRate(path.client, tree, count, {}));
    sequential = std::max(sequential, ScanRate(path.client, tree, count, OneRpcInFlight()));
  }
  EmitVs("tree.scan_100k_entries." + path.name, "entries/s", pipelined,
         "sequential_scan_one_rpc_in_flight", sequential, pipelined / sequential);
}

// Deletes `tree` pipelined, then a warm tree of the same shape (or its subset) one RPC at a time.
void DeleteBenchmark(testing::GaneshaServer& server, const Path& path, const std::string& tree,
                     const testing::TreeCount& count, double raw_remove_rate) {
  nfs::TreeStats removed, unused;
  double pipelined = DeleteRate(path.client, tree, count, {}, &removed);
  const std::string baseline_tree = tree + ".sequential";
  const testing::TreeCount baseline_count =
      MakeWarmTree(server, path.client, baseline_tree,
                   path.sequential_subset ? TenThousandFiles() : HundredThousandFiles());
  double sequential =
      DeleteRate(path.client, baseline_tree, baseline_count, OneRpcInFlight(), &unused);
  EmitVs("tree.delete_100k_files." + path.name, "files/s", pipelined,
         std::string("sequential_delete_one_rpc_in_flight") +
             (path.sequential_subset ? "_10k_subset" : ""),
         sequential, pipelined / sequential);
  EmitVs("tree.delete_100k_files_vs_raw_remove." + path.name, "files/s", pipelined,
         "raw_pipelined_file_remove", raw_remove_rate, pipelined / raw_remove_rate);
  Emit("tree.delete_100k_files_rpcs_per_entry." + path.name, "rpcs/entry",
       static_cast<double>(removed.rpcs) / static_cast<double>(count.entries()));
}

void PathBenchmarks(testing::GaneshaServer& server, const Path& path) {
  double raw_remove_rate = RawServerLimits(server, path);
  const std::string tree = "/tree." + path.name;
  const testing::TreeCount count = MakeWarmTree(server, path.client, tree, HundredThousandFiles());
  ScanBenchmark(path, tree, count);
  DeleteBenchmark(server, path, tree, count, raw_remove_rate);
}

std::unique_ptr<nfs::Client> ConnectVia(int port) {
  nfs::ClientOptions options;
  options.call_timeout = std::chrono::minutes(2);
  return Must(nfs::Client::Connect(
      "nfs://127.0.0.1/export?version=4&nfsport=" + std::to_string(port), options));
}

int Main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout carries the JSON
  std::unique_ptr<testing::GaneshaServer> server = bench::StartBenchServer();
  std::unique_ptr<testing::DelayProxy> proxy =
      Must(testing::DelayProxy::Start(server->port(), std::chrono::microseconds(500)));
  std::unique_ptr<nfs::Client> direct = ConnectVia(server->port());
  std::unique_ptr<nfs::Client> delayed = ConnectVia(proxy->port());
  for (const Path& path : {Path{"loopback", *direct, false}, Path{"rtt_1ms", *delayed, true}}) {
    PathBenchmarks(*server, path);
  }
  return 0;
}

}  // namespace
}  // namespace nfsprov

int main() { return nfsprov::Main(); }
