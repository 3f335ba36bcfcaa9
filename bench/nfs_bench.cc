// make bench: NFS layer measurements against a real nfs-ganesha on loopback.
//
// Prints one JSON line per measurement: {"name","unit","value"} and, for comparisons,
// "baseline", "baseline_value" and "ratio" (> 1 means we are better). Every baseline is measured
// in the same run against the same server:
//  - raw pipelined MKDIR/s and REMOVE/s: handle-based COMPOUNDs with 64 in flight, the most this
//    server does; the physical limit the engine is compared with;
//  - tree delete of 100,000 files: the pipelined engine vs the same engine one RPC at a time;
//  - usage scan of the same tree: pipelined vs one RPC at a time.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "nfs/client.h"
#include "nfs/libnfs_call.h"
#include "nfs/nfs4_compound.h"
#include "nfs/tree.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/local_tree.h"

namespace nfsprov {
namespace {

using Seconds = std::chrono::duration<double>;

void Emit(const std::string& name, const std::string& unit, double value) {
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.3f}\n", name.c_str(), unit.c_str(), value);
  std::fflush(stdout);
}

// ratio = value / baseline_value when higher is better, the inverse otherwise.
void EmitVs(const std::string& name, const std::string& unit, double value,
            const std::string& baseline, double baseline_value, bool higher_is_better = true) {
  double ratio = higher_is_better ? value / baseline_value : baseline_value / value;
  std::printf("{\"name\":\"%s\",\"unit\":\"%s\",\"value\":%.3f,\"baseline\":\"%s\","
              "\"baseline_value\":%.3f,\"ratio\":%.3f}\n",
              name.c_str(), unit.c_str(), value, baseline.c_str(), baseline_value, ratio);
  std::fflush(stdout);
}

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

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
  if (failed > 0) Die(Internal(std::to_string(failed) + " raw requests failed"));
  return n / seconds;
}

void RawServerLimits(testing::GaneshaServer& server, nfs::Client& client, double* mkdir_rate,
                     double* remove_rate) {
  constexpr int kOps = 20000;
  if (mkdir((server.export_dir() + "/raw").c_str(), 0755) != 0) Die(Internal("mkdir raw"));
  nfs::nfs4::FileHandle dir = HandleOf(client, "/raw");
  *mkdir_rate = Pipelined(client.NextLoop(), kOps, 64, [&](int i) {
    auto c = std::make_shared<nfs::nfs4::Compound>("mkdir");
    c->PutFh(dir).CreateDir("d" + std::to_string(i), {});
    return c;
  });
  Emit("nfs.raw_pipelined_mkdir", "ops/s", *mkdir_rate);
  *remove_rate = Pipelined(client.NextLoop(), kOps, 64, [&](int i) {
    auto c = std::make_shared<nfs::nfs4::Compound>("remove");
    c->PutFh(dir).Remove("d" + std::to_string(i));
    return c;
  });
  Emit("nfs.raw_pipelined_remove", "ops/s", *remove_rate);
}

testing::TreeShape HundredThousandFiles() {
  testing::TreeShape shape;  // 1 + 10 + 100 directories, 900 files each: 99,900 files
  shape.fanout_dirs = 10;
  shape.levels = 2;
  shape.files_per_dir = 900;
  shape.file_bytes = 0;
  return shape;
}

double Timed(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return Seconds(std::chrono::steady_clock::now() - start).count();
}

void TreeBenchmarks(testing::GaneshaServer& server, nfs::Client& client, double raw_remove_rate) {
  const std::string local = server.export_dir() + "/tree";
  testing::TreeCount count = Must(testing::MakeTree(local, HundredThousandFiles()));
  nfs::TreeOptions sequential;
  sequential.max_in_flight = 1;

  nfs::TreeStats scan;
  double scan_pipelined = Timed([&] { scan = Must(nfs::ScanTree(client, "/tree")); });
  double scan_sequential = Timed([&] { Must(nfs::ScanTree(client, "/tree", sequential)); });
  if (scan.inodes() != count.entries()) Die(Internal("scan miscounted the tree"));
  EmitVs("tree.scan_100k_entries", "entries/s", count.entries() / scan_pipelined,
         "sequential_scan_one_rpc_in_flight", count.entries() / scan_sequential);

  nfs::TreeStats removed;
  double delete_pipelined = Timed([&] { removed = Must(nfs::RemoveTree(client, "/tree")); });
  if (removed.files != count.files) Die(Internal("delete missed files"));
  double files_per_s = count.files / delete_pipelined;

  Must(testing::MakeTree(local, HundredThousandFiles()));
  double delete_sequential = Timed([&] { Must(nfs::RemoveTree(client, "/tree", sequential)); });
  EmitVs("tree.delete_100k_files", "files/s", files_per_s, "sequential_delete_one_rpc_in_flight",
         count.files / delete_sequential);
  EmitVs("tree.delete_100k_files_vs_raw_remove", "files/s", files_per_s,
         "raw_pipelined_remove", raw_remove_rate);
  Emit("tree.delete_100k_files_rpcs_per_entry", "rpcs/entry",
       static_cast<double>(removed.rpcs) / static_cast<double>(count.entries()));
}

int Main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout carries the JSON
  std::unique_ptr<testing::GaneshaServer> server = Must(testing::GaneshaServer::Start());
  nfs::ClientOptions options;
  options.call_timeout = std::chrono::minutes(2);
  std::unique_ptr<nfs::Client> client = Must(nfs::Client::Connect(server->Url(), options));
  double mkdir_rate = 0, remove_rate = 0;
  RawServerLimits(*server, *client, &mkdir_rate, &remove_rate);
  TreeBenchmarks(*server, *client, remove_rate);
  return 0;
}

}  // namespace
}  // namespace nfsprov

int main() { return nfsprov::Main(); }
