// make bench: what one CSI volume costs through `nfsprov controller`, against the NFS server's own
// limits, all measured in the same run against one nfs-ganesha on loopback.
//
// Prints one JSON line per measurement on stdout (logs go to stderr): {"name","unit","value"}
// and, for comparisons, "baseline", "baseline_value" and "ratio" (> 1 means we are better;
// baseline/value for latencies).
//  1. nfs.raw_*: raw handle-based CREATE(NF4DIR) COMPOUNDs on one connection, 64 in flight
//     (the most directories/s the server makes, and nfs-ganesha's CPU time per MKDIR) and 1 in
//     flight (one MKDIR round trip);
//  2. controller.{create,delete}_volume.*: CreateVolume/s and DeleteVolume/s over the gRPC
//     socket of a real `nfsprov controller` child, from 1 caller and from 64 concurrent callers
//     (one call in flight each, through gRPC's callback API on one channel, like the sidecar's
//     goroutines), vs raw MKDIR/s: for creates, raw runs right before and after the phase
//     (their mean; at 64 callers the median of three such rounds); for deletes, the run at the
//     start;
//     controller.create_volume_server_cpu.*: nfs-ganesha's CPU time per CreateVolume, vs per MKDIR;
//  3. controller.create_volume_latency_*: CreateVolume latency at 1 caller, vs raw MKDIR p50;
//  4. controller.*_nfs_requests: NFS requests one CreateVolume / DeleteVolume sends, counted
//     in process with the domain Controller (its reaper stopped so that only the call counts);
//  5. controller.delete_100k_file_volume_latency: DeleteVolume of a 100,000-file volume vs an
//     empty one (the call is a rename into the trash, so size should not matter), each the median
//     of three, and the background reap of those files (median).
// Each timed phase starts with an empty trash, so no reaper backlog from an earlier phase runs
// under it. The log says how much CPU nfs-ganesha, the driver and the callers used in each
// throughput phase: on 2 cores that shows which of them was the limit.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench/bench_server.h"
#include "bench/raw_nfs.h"
#include "bench/report.h"
#include "csi/csi.grpc.pb.h"
#include "e2e/driver_process.h"
#include "nfs/client.h"
#include "nfs/tree.h"
#include "provisioner/controller.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/local_tree.h"

namespace nfsprov::bench {
namespace {

namespace fs = std::filesystem;
using Seconds = std::chrono::duration<double>;
using Stub = ::csi::v1::Controller::Stub;

// ---- output and failure --------------------------------------------------------------------

void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.error_message());
}

// ---- small helpers ---------------------------------------------------------------------------

// Nearest-rank percentile (q in (0, 1]).
double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

double Ms(double seconds) { return seconds * 1000.0; }

double Timed(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return Seconds(std::chrono::steady_clock::now() - start).count();
}

// StorageClass parameters of every volume in this run: the test share, default subDir (the
// volume name), onDelete=delete.
std::map<std::string, std::string> VolumeParameters(const testing::GaneshaServer& server) {
  return {{"server", "127.0.0.1"}, {"share", "/export"}, {"port", std::to_string(server.port())}};
}

// Waits until the share's trash is empty (read locally: cheap, and no extra load on the server);
// returns the seconds waited.
double WaitForEmptyTrash(const testing::GaneshaServer& server) {
  constexpr auto kLimit = std::chrono::seconds(120);
  const fs::path trash = server.export_dir() + "/.nfsprov/trash";
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    std::error_code ec;
    if (fs::is_empty(trash, ec) || ec) return Seconds(std::chrono::steady_clock::now() - start).count();
    if (std::chrono::steady_clock::now() - start > kLimit) Die("trash not empty after 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---- 1. the server's raw limits ------------------------------------------------------------

// CPU seconds (user + system) process `pid` has used so far, from /proc/<pid>/stat.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // utime and stime are fields 14 and 15; field 3 starts after the ") " that ends the name.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skipped;
  for (int field = 3; field < 14; ++field) fields >> skipped;
  long long user = 0, system = 0;
  fields >> user >> system;
  return static_cast<double>(user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
}


struct RawMkdir {
  double per_second = 0;  // 64 in flight
  double server_cpu_s = 0;  // nfs-ganesha's CPU time per MKDIR, 64 in flight
  double p50_s = 0;       // 1 in flight: one round trip
};

// Runs `n` raw MKDIRs into a fresh directory `dir` with `window` in flight, then removes it.
// `server_cpu_s`, when given, receives nfs-ganesha's CPU time per MKDIR.
PipelineRun RawMkdirRun(const testing::GaneshaServer& server, nfs::Client& client, const std::string& dir,
                        int n, int window, double* server_cpu_s = nullptr) {
  if (mkdir((server.export_dir() + dir).c_str(), 0755) != 0) Die("mkdir " + dir);
  const nfs::nfs4::FileHandle parent = Must(HandleOf(client, dir));
  const double cpu_before = CpuSeconds(server.pid());
  PipelineRun run = Must(RunPipelined(client.NextLoop(), n, window, MkdirUnder(parent)));
  if (server_cpu_s != nullptr) *server_cpu_s = (CpuSeconds(server.pid()) - cpu_before) / n;
  Must(nfs::RemoveTree(client, dir));  // leaves the server's cache to what comes next
  return run;
}

// Raw MKDIR/s with 64 in flight (`n` directories) and the server's CPU per MKDIR.
RawMkdir RawPipelined(const testing::GaneshaServer& server, nfs::Client& client, const std::string& dir, int n) {
  RawMkdir raw;
  raw.per_second = RawMkdirRun(server, client, dir, n, 64, &raw.server_cpu_s).PerSecond();
  return raw;
}

RawMkdir MeasureRawMkdir(const testing::GaneshaServer& server, nfs::Client& client) {
  spdlog::info("raw MKDIR: 64 in flight, then 1 in flight");
  RawMkdir raw = RawPipelined(server, client, "/raw_mkdir_pipelined", 20000);
  Emit("nfs.raw_pipelined_mkdir", "ops/s", raw.per_second);
  Emit("nfs.raw_mkdir_server_cpu", "us/op", raw.server_cpu_s * 1e6);
  raw.p50_s = Percentile(RawMkdirRun(server, client, "/raw_mkdir_sequential", 2000, 1).latencies_s, 0.5);
  Emit("nfs.raw_mkdir_round_trip_p50", "ms", Ms(raw.p50_s));
  return raw;
}

// ---- 4. NFS requests per call, in process ----------------------------------------------------

void CountNfsRequests(const testing::GaneshaServer& server) {
  spdlog::info("NFS requests per call, in process");
  const ShareRef share{"127.0.0.1", "/export", server.port(), "4"};
  ControllerOptions options;
  options.shares = {share};
  Controller controller(options);
  const std::map<std::string, std::string> parameters = VolumeParameters(server);
  // The first call connects and makes the share's .nfsprov layout: not what a call costs.
  const Volume warm_up = Must(controller.CreateVolume({"rpc-count-warm-up", {}, parameters, {}, ""}));
  ShareHandle handle = Must(controller.shares().Get(share));
  // The reaper's rounds (woken by DeleteVolume) and the usage scans use the same client and
  // would be counted. The driver's own reaper empties this trash later.
  handle.reaper->Stop();
  handle.usage->Stop();
  nfs::Client& client = *handle.client;

  const uint64_t before = client.RequestCount();
  const Volume volume = Must(controller.CreateVolume({"rpc-count", {}, parameters, {}, ""}));
  const uint64_t created = client.RequestCount();
  Must(controller.DeleteVolume(volume.id));
  const uint64_t deleted = client.RequestCount();
  Emit("controller.create_volume_nfs_requests", "requests", static_cast<double>(created - before));
  Emit("controller.delete_volume_nfs_requests", "requests", static_cast<double>(deleted - created));
  Must(controller.DeleteVolume(warm_up.id));
}

// ---- the controller over its socket ----------------------------------------------------------

constexpr auto kCallTimeout = std::chrono::seconds(60);

::csi::v1::CreateVolumeRequest CreateRequest(const testing::GaneshaServer& server, const std::string& name) {
  ::csi::v1::CreateVolumeRequest request;
  request.set_name(name);
  ::csi::v1::VolumeCapability* capability = request.add_volume_capabilities();
  capability->mutable_mount();
  capability->mutable_access_mode()->set_mode(
      ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  for (const auto& [key, value] : VolumeParameters(server)) (*request.mutable_parameters())[key] = value;
  return request;
}

::csi::v1::DeleteVolumeRequest DeleteRequest(const std::string& id) {
  ::csi::v1::DeleteVolumeRequest request;
  request.set_volume_id(id);
  return request;
}

grpc::Status CreateVolume(Stub& stub, const testing::GaneshaServer& server, const std::string& name,
                          ::csi::v1::Volume* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  ::csi::v1::CreateVolumeResponse response;
  grpc::Status s = stub.CreateVolume(&ctx, CreateRequest(server, name), &response);
  *out = response.volume();
  return s;
}

grpc::Status DeleteVolume(Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  ::csi::v1::DeleteVolumeResponse response;
  return stub.DeleteVolume(&ctx, DeleteRequest(id), &response);
}

// Starts one unary call through gRPC's callback API: `start(ctx, request, response, on_done)` is
// the stub's async method. The call's state lives until `done` has seen the response.
template <typename Request, typename Response, typename Start>
void StartUnary(Request request, Start start, std::function<void(grpc::Status, const Response&)> done) {
  struct InFlight {
    grpc::ClientContext ctx;
    Request request;
    Response response;
  };
  auto call = std::make_shared<InFlight>();
  call->request = std::move(request);
  call->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  start(&call->ctx, &call->request, &call->response,
        [call, done = std::move(done)](grpc::Status s) { done(std::move(s), call->response); });
}

::csi::v1::Volume MustCreate(Stub& stub, const testing::GaneshaServer& server, const std::string& name) {
  ::csi::v1::Volume volume;
  Check(CreateVolume(stub, server, name, &volume), "CreateVolume " + name);
  return volume;
}

double TimedDelete(Stub& stub, const std::string& id) {
  return Timed([&] { Check(DeleteVolume(stub, id), "DeleteVolume " + id); });
}

// The first calls connect the driver to the share (and start its reaper, which empties what the
// in-process controller left in the trash); none of that belongs to a measurement.
void WarmUp(Stub& stub, const testing::GaneshaServer& server) {
  for (int i = 0; i < 8; ++i) {
    ::csi::v1::Volume volume = MustCreate(stub, server, "warm-up-" + std::to_string(i));
    Check(DeleteVolume(stub, volume.volume_id()), "DeleteVolume warm-up");
  }
}

// ---- 2 and 3. throughput and latency through the socket ------------------------------------

struct CallerRun {
  double seconds = 0;               // all callers released to the last one done
  double server_cpu_s = 0;          // nfs-ganesha's CPU time meanwhile
  std::vector<double> latencies_s;  // per call, by call index
  double PerSecond() const { return static_cast<double>(latencies_s.size()) / seconds; }
};

// Starts call `index` (in [0, callers * per_caller)) on `stub`; `done` runs once it has finished.
using Call = std::function<void(Stub& stub, std::size_t index, std::function<void(grpc::Status)> done)>;

// Runs the calls as `callers` concurrent callers on one channel: caller c makes calls
// c * per_caller .. (c + 1) * per_caller - 1, one after another, each started as the one before
// it finishes. The calls go through gRPC's callback API, so a caller is not a thread: like the
// provisioner sidecar's workers (goroutines on a few threads), the callers cost the machine little
// beyond their calls, and a thread per caller would take CPU from the driver and the server on
// these 2 cores. Dies on the first failed call after all have finished.
CallerRun RunCallers(const std::shared_ptr<grpc::Channel>& channel, int callers, int per_caller,
                     const Call& call) {
  const auto total = static_cast<std::size_t>(callers) * static_cast<std::size_t>(per_caller);
  CallerRun run;
  run.latencies_s.resize(total);
  std::unique_ptr<Stub> stub = ::csi::v1::Controller::NewStub(channel);
  std::mutex mu;
  std::condition_variable all_done;
  int callers_done = 0;
  std::string first_error;
  std::function<void(int caller, int i)> next = [&](int caller, int i) {
    if (i == per_caller) {
      std::lock_guard lock(mu);
      if (++callers_done == callers) all_done.notify_all();
      return;
    }
    const std::size_t index = static_cast<std::size_t>(caller * per_caller + i);
    const auto start = std::chrono::steady_clock::now();
    call(*stub, index, [&, caller, i, index, start](const grpc::Status& s) {
      run.latencies_s[index] = Seconds(std::chrono::steady_clock::now() - start).count();
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = s.error_message();
      }
      next(caller, i + 1);
    });
  };
  run.seconds = Timed([&] {
    for (int caller = 0; caller < callers; ++caller) next(caller, 0);
    std::unique_lock lock(mu);
    all_done.wait(lock, [&] { return callers_done == callers; });
  });
  if (!first_error.empty()) Die("call failed: " + first_error);
  return run;
}

struct Phase {
  std::string tag;  // suffix of the measurement names
  int callers;
  int per_caller;
  int rounds;  // create rounds, each between raw runs; the median round is reported
  std::vector<std::string> volume_ids;  // what its first round made, for its deletes
  std::vector<std::string> later_volume_ids;  // what the other rounds made, deleted untimed
};

// What the socket phases run against.
struct Rig {
  const testing::GaneshaServer& server;
  nfs::Client& raw_client;  // for the raw baselines
  std::shared_ptr<grpc::Channel> channel;
  int driver_pid;
};

// Runs one phase and logs who used the CPU meanwhile: on 2 cores this tells whether the server,
// the driver or the callers were the limit.
CallerRun Observed(const Rig& rig, const std::string& what, const std::function<CallerRun()>& phase) {
  const int pids[] = {rig.server.pid(), rig.driver_pid, getpid()};
  double before[3], after[3];
  for (int i = 0; i < 3; ++i) before[i] = CpuSeconds(pids[i]);
  CallerRun run = phase();
  for (int i = 0; i < 3; ++i) after[i] = CpuSeconds(pids[i]);
  run.server_cpu_s = after[0] - before[0];
  spdlog::info("{}: {:.2f} s; CPU seconds used by nfs-ganesha {:.2f}, nfsprov {:.2f}, callers {:.2f}",
               what, run.seconds, after[0] - before[0], after[1] - before[1], after[2] - before[2]);
  return run;
}

std::string Describe(const std::string& call, const Phase& phase) {
  return call + " x " + std::to_string(phase.callers * phase.per_caller) + " from " +
         std::to_string(phase.callers) + " callers";
}

// Creates volumes named pvc-<tag>-<round>-<index>; their IDs go to phase.volume_ids (round 0)
// or phase.later_volume_ids.
CallerRun CreatePhase(const Rig& rig, Phase& phase, int round) {
  WaitForEmptyTrash(rig.server);
  std::vector<std::string> ids(static_cast<std::size_t>(phase.callers * phase.per_caller));
  const std::string prefix = "pvc-" + phase.tag + "-" + std::to_string(round) + "-";
  CallerRun run = Observed(rig, Describe("CreateVolume", phase), [&] {
    return RunCallers(rig.channel, phase.callers, phase.per_caller,
                      [&](Stub& stub, std::size_t index, std::function<void(grpc::Status)> done) {
      StartUnary<::csi::v1::CreateVolumeRequest, ::csi::v1::CreateVolumeResponse>(
          CreateRequest(rig.server, prefix + std::to_string(index)),
          [&stub](auto... args) { stub.async()->CreateVolume(args...); },
          [&ids, index, done](grpc::Status s, const ::csi::v1::CreateVolumeResponse& response) {
            ids[index] = response.volume().volume_id();
            done(std::move(s));
          });
    });
  });
  auto& kept = round == 0 ? phase.volume_ids : phase.later_volume_ids;
  kept.insert(kept.end(), ids.begin(), ids.end());
  return run;
}

// Deletes `ids` from `callers` callers (ids.size() must be a multiple of callers).
CallerRun DeleteVolumes(const Rig& rig, int callers, const std::vector<std::string>& ids) {
  return RunCallers(rig.channel, callers, static_cast<int>(ids.size()) / callers,
                    [&](Stub& stub, std::size_t index, std::function<void(grpc::Status)> done) {
    StartUnary<::csi::v1::DeleteVolumeRequest, ::csi::v1::DeleteVolumeResponse>(
        DeleteRequest(ids[index]), [&stub](auto... args) { stub.async()->DeleteVolume(args...); },
        [done](grpc::Status s, const ::csi::v1::DeleteVolumeResponse&) { done(std::move(s)); });
  });
}

CallerRun DeletePhase(const Rig& rig, const Phase& phase) {
  WaitForEmptyTrash(rig.server);
  return Observed(rig, Describe("DeleteVolume", phase),
                  [&] { return DeleteVolumes(rig, phase.callers, phase.volume_ids); });
}

struct CreateRound {
  CallerRun run;
  RawMkdir around;  // the mean of the raw runs right before and after it
  double ratio = 0;  // creates/s over raw MKDIR/s
};

// Runs the phase's create rounds, each between two raw pipelined MKDIR runs (a round's "after"
// is the next one's "before"), and returns the round with the median ratio. The host's speed
// drifts within seconds (the raw baseline moved by a third between runs a minute apart), so each
// side of a ratio is measured within seconds of the other; a stall of the host during one round
// moves the median less than it moves that round.
CreateRound MedianCreateRound(const Rig& rig, Phase& phase) {
  constexpr int kRawDirectories = 10000;
  int raw_runs = 0;
  auto raw_run = [&] {
    const std::string dir = "/raw_" + phase.tag + "_" + std::to_string(raw_runs++);
    return RawPipelined(rig.server, rig.raw_client, dir, kRawDirectories);
  };
  std::vector<CreateRound> rounds;
  RawMkdir before = raw_run();
  for (int round = 0; round < phase.rounds; ++round) {
    CallerRun run = CreatePhase(rig, phase, round);
    const RawMkdir after = raw_run();
    CreateRound r{std::move(run), {}, 0};
    r.around.per_second = (before.per_second + after.per_second) / 2;
    r.around.server_cpu_s = (before.server_cpu_s + after.server_cpu_s) / 2;
    r.ratio = r.run.PerSecond() / r.around.per_second;
    spdlog::info("raw MKDIR/s around it: {:.0f} before, {:.0f} after; ratio {:.3f}", before.per_second,
                 after.per_second, r.ratio);
    rounds.push_back(std::move(r));
    before = after;
  }
  std::sort(rounds.begin(), rounds.end(),
            [](const CreateRound& a, const CreateRound& b) { return a.ratio < b.ratio; });
  if (rounds.size() > 1) {  // the spread the median was taken from
    Emit("controller.create_volume." + phase.tag + ".lowest_round_ratio", "ratio", rounds.front().ratio);
    Emit("controller.create_volume." + phase.tag + ".highest_round_ratio", "ratio", rounds.back().ratio);
  }
  return std::move(rounds[rounds.size() / 2]);
}

// Emits CreateVolume/s and DeleteVolume/s at 1 and 64 callers; returns the 1-caller creates.
CallerRun ThroughputBenchmarks(const Rig& rig, const RawMkdir& raw) {
  std::vector<Phase> phases = {{"1_caller", 1, 320, 1, {}, {}}, {"64_callers", 64, 64, 3, {}, {}}};
  CallerRun one_caller_creates;
  for (Phase& phase : phases) {
    CreateRound median = MedianCreateRound(rig, phase);
    const CallerRun& run = median.run;
    EmitVs("controller.create_volume." + phase.tag, "ops/s", run.PerSecond(), "raw_pipelined_mkdir_around",
           median.around.per_second, median.ratio);
    // The server's CPU per volume against its CPU per raw MKDIR. The ratio (raw / ours) bounds
    // CreateVolume/s over raw MKDIR/s while the server's CPU is the limit, whatever the driver does.
    const double server_cpu = run.server_cpu_s / static_cast<double>(run.latencies_s.size());
    EmitVs("controller.create_volume_server_cpu." + phase.tag, "us/op", server_cpu * 1e6,
           "raw_mkdir_server_cpu_around", median.around.server_cpu_s * 1e6,
           median.around.server_cpu_s / server_cpu);
    if (phase.callers == 1) one_caller_creates = median.run;
  }
  for (const Phase& phase : phases) {
    CallerRun run = DeletePhase(rig, phase);
    EmitVs("controller.delete_volume." + phase.tag, "ops/s", run.PerSecond(), "raw_pipelined_mkdir",
           raw.per_second, run.PerSecond() / raw.per_second);
    if (!phase.later_volume_ids.empty()) {  // so later phases find the share as before
      spdlog::info("deleting the other create rounds' {} volumes (untimed)", phase.later_volume_ids.size());
      DeleteVolumes(rig, phase.callers, phase.later_volume_ids);
    }
  }
  return one_caller_creates;
}

void LatencyBenchmarks(const CallerRun& one_caller_creates, const RawMkdir& raw) {
  const double p50 = Percentile(one_caller_creates.latencies_s, 0.5);
  const double p99 = Percentile(one_caller_creates.latencies_s, 0.99);
  const double budget = 6 * raw.p50_s;  // the goal: a create within 6 raw MKDIR round trips
  EmitVs("controller.create_volume_latency_p50", "ms", Ms(p50), "6_raw_mkdir_round_trips",
         Ms(budget), budget / p50);
  Emit("controller.create_volume_latency_p99", "ms", Ms(p99));
  Emit("controller.create_volume_p50_in_raw_mkdir_round_trips", "round_trips", p50 / raw.p50_s);
}

// ---- 5. deleting a big volume ------------------------------------------------------------------

testing::TreeShape HundredThousandFiles() {
  testing::TreeShape shape;  // the root and 99 subdirectories, 1000 empty files in each
  shape.fanout_dirs = 99;
  shape.levels = 1;
  shape.files_per_dir = 1000;
  shape.file_bytes = 0;
  return shape;
}

// DeleteVolume latencies are medians of kDeleteTries calls: one timed call is one sample of a host
// that stalls for milliseconds now and then.
constexpr int kDeleteTries = 3;

// Times DeleteVolume of `volume` once the trash is empty and nfs-ganesha has had a moment to
// drop what a previous reap left in its cache (which it does on threads of its own).
double QuietDelete(Stub& stub, const testing::GaneshaServer& server, const ::csi::v1::Volume& volume) {
  WaitForEmptyTrash(server);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  return TimedDelete(stub, volume.volume_id());
}

// Empty and 100,000-file volumes are deleted in pairs, each pair in the same conditions (after the
// previous big volume's reap).
void BigVolumeDeleteBenchmark(Stub& stub, const testing::GaneshaServer& server) {
  std::vector<double> empty_s, big_s, reap_s;
  for (int i = 0; i < kDeleteTries; ++i) {
    const std::string n = std::to_string(i);
    ::csi::v1::Volume empty = MustCreate(stub, server, "pvc-empty-" + n);
    ::csi::v1::Volume big = MustCreate(stub, server, "pvc-100k-files-" + n);
    spdlog::info("filling a volume with 100,000 files (locally)");
    const std::string data = server.export_dir() + "/" + big.volume_context().at("subDir") + "/data";
    const testing::TreeCount count = Must(testing::MakeTree(data, HundredThousandFiles()));
    if (count.files != 100000) Die("made " + std::to_string(count.files) + " files, not 100,000");
    spdlog::info("DeleteVolume of an empty volume, then of the 100,000-file volume and its reap");
    empty_s.push_back(QuietDelete(stub, server, empty));
    big_s.push_back(QuietDelete(stub, server, big));
    reap_s.push_back(WaitForEmptyTrash(server));  // from the call's return until all is gone
  }

  // Goal: the big one within 2x the empty one.
  const double empty_median_s = Percentile(empty_s, 0.5);
  const double big_median_s = Percentile(big_s, 0.5);
  EmitVs("controller.delete_100k_file_volume_latency", "ms", Ms(big_median_s), "empty_volume_delete_latency",
         Ms(empty_median_s), 2 * empty_median_s / big_median_s);
  Emit("controller.reap_100k_files", "s", Percentile(reap_s, 0.5));
}

// ---- main ------------------------------------------------------------------------------------

// A private directory for the driver's socket and log, removed at the end.
std::string MakeWorkDir() {
  std::string dir = (fs::temp_directory_path() / "nfsprov-controller-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) Die("mkdtemp " + dir);
  return dir;
}

int Main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout carries the JSON
  std::unique_ptr<testing::GaneshaServer> server = StartBenchServer();
  nfs::ClientOptions raw_options;
  raw_options.call_timeout = std::chrono::minutes(2);
  std::unique_ptr<nfs::Client> raw_client = Must(nfs::Client::Connect(server->Url(), raw_options));
  const RawMkdir raw = MeasureRawMkdir(*server, *raw_client);
  CountNfsRequests(*server);

  const std::string work_dir = MakeWorkDir();
  std::unique_ptr<e2e::DriverProcess> driver = Must(e2e::DriverProcess::Start(
      {"controller", "--share", server->Url()}, work_dir + "/csi.sock"));
  const std::shared_ptr<grpc::Channel> channel = driver->Channel();
  std::unique_ptr<Stub> stub = ::csi::v1::Controller::NewStub(channel);
  spdlog::info("controller serving {}; warming up", driver->socket_path());
  WarmUp(*stub, *server);

  const CallerRun one_caller_creates = ThroughputBenchmarks({*server, *raw_client, channel, driver->pid()}, raw);
  LatencyBenchmarks(one_caller_creates, raw);
  BigVolumeDeleteBenchmark(*stub, *server);

  Must(driver->Stop());
  fs::remove_all(work_dir);
  spdlog::info("done");
  return 0;
}

}  // namespace
}  // namespace nfsprov::bench

int main() { return nfsprov::bench::Main(); }
