// nfsprov_lock_bench: what a lock from lockd costs, against the NFS round trip it is built on, all
// measured in the same run against one nfs-ganesha on loopback, with a LockService served
// in-process on loopback TCP (as tests/integration/lockd_test.h does).
//
// Prints one JSON line per measurement on stdout (bench/report.h); notes go to stderr. spdlog is
// set to warn: lockd logs one info line per call, which would otherwise be part of what is timed.
//  1. lockd.nfs_getattr_round_trip_{p50,p99}: the baseline, nfs::Client::Stat("/") (one GETATTR
//     COMPOUND), one at a time after a warm-up. Each goal comparison below takes its own GETATTR
//     p50 from 1,000 round trips right before and 1,000 right after its samples.
//  2. lockd.acquire_release_raw_{p50,p99}: an uncontended Acquire (EXCLUSIVE, wait_ms 0, a new
//     lease ID each time) then Release over the raw generated stub; p50 vs the goal of three
//     GETATTR round trips (ratio = budget / p50, > 1 meets it), and p50 in GETATTR round trips.
//     lockd.acquire_release_session_*: the same as two messages on one Session stream.
//     lockd.acquire_release_library_*: the same through LockClient (what `nfsprov lock` uses:
//     it tries over its session first and releases over it).
//     The pieces, to tell where the time goes: Acquire and Release alone; Inspect (a gRPC call
//     to the service that touches no NFS); a call refused before any work (the bare gRPC round
//     trip); the CPU one cycle costs this process and nfs-ganesha; LeaseStore::PutLease + DeleteLease on our own client
//     (the NFS work of a grant and a release), with the NFS requests each sends.
//  3. lockd.contended_64: 64 threads, each with its own channel and stub, each looping for 5 s
//     over a blocking Acquire (EXCLUSIVE, wait_ms 10000, ttl 10 s) of one lock, then Release:
//     grants/s (vs one caller running the same loop for 2 s, lockd.contended_1; ratio = 64-caller
//     rate / 1-caller rate), the longest, p99 and p50 wait of one Acquire, CPU per grant. A
//     "holders" counter, raised after a grant and lowered before the release, must never pass 1,
//     and fencing tokens must rise with every grant; any violation (or failed call) is printed and
//     makes the bench exit 1.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench/bench_server.h"
#include "bench/report.h"
#include "csi/endpoint.h"
#include "csi/server.h"
#include "lockd/client.h"
#include "lockd/lease_store.h"
#include "lockd/lock_file.h"
#include "lockd/lock_request.h"
#include "lockd/lock_secret.h"
#include "lockd/lock_service.h"
#include "lockd/lockd.grpc.pb.h"
#include "nfs/client.h"
#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;
using std::chrono::milliseconds;
using Stub = lockd::v1::Locks::Stub;

constexpr int kWarmup = 200;
constexpr int kSamples = 2000;

void Note(const std::string& text) {
  std::fprintf(stderr, "note: %s\n", text.c_str());
  std::fflush(stderr);
}

double Ms(double seconds) { return seconds * 1000; }

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// CPU seconds used so far by this process (lockd and its callers, both in process).
double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds used so far by process `pid` (utime + stime from /proc/<pid>/stat); 0 if unknown.
double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Timed(const std::function<void()>& work) {
  const auto start = Clock::now();
  work();
  return Seconds(Clock::now() - start).count();
}

// `work` kWarmup times untimed, then kSamples times timed: the latencies in seconds.
std::vector<double> Sample(const std::function<void()>& work, int samples = kSamples) {
  for (int i = 0; i < kWarmup; ++i) work();
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(samples));
  for (int i = 0; i < samples; ++i) latencies.push_back(Timed(work));
  return latencies;
}

struct Fixture {
  std::unique_ptr<testing::GaneshaServer> server;
  std::shared_ptr<nfs::Client> client;  // the bench's own, not the service's
  std::string volume_id;
  std::string volume_key;
  std::optional<lockd::LockKey> key;
  std::unique_ptr<lockd::LockService> service;
  std::unique_ptr<csi::CsiServer> grpc_server;
  std::string address;

  lockd::v1::LockRef Ref(const std::string& name) const {
    lockd::v1::LockRef ref;
    ref.set_volume_id(volume_id);
    ref.set_secret(key->SecretFor(volume_id));
    ref.set_name(name);
    return ref;
  }

  // A stub on a channel of its own (no subchannel shared with other channels).
  std::unique_ptr<Stub> NewStub() const {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return lockd::v1::Locks::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
};

void StartFixture(Fixture& f) {
  f.server = StartBenchServer();
  f.client = std::shared_ptr<nfs::Client>(Must(nfs::Client::Connect(f.server->Url())));
  MetadataStore store(f.client);
  Must(store.EnsureLayout());
  VolumeRecord record;
  record.name = "pv-lock-bench";
  record.key = KeyForName(record.name);
  record.path = record.name;
  record.parameters = {{"locks", "true"}};
  record.state = VolumeState::kReady;
  Must(store.PutVolume(record));
  f.volume_key = record.key;
  ShareRef share;
  share.server = "127.0.0.1";
  share.share = "/export";
  share.port = f.server->port();
  f.volume_id = Must(EncodeId({ObjectKind::kVolume, share, record.key}));

  f.key = Must(lockd::LockKey::FromBytes("0123456789abcdef0123456789abcdef-bench-key"));
  f.service = std::make_unique<lockd::LockService>(*f.key, lockd::LockServiceOptions{});
  csi::Endpoint endpoint = Must(csi::ParseEndpoint("tcp://127.0.0.1:0"));
  f.grpc_server = Must(csi::CsiServer::Start(endpoint, {f.service.get()}));
  f.address = "127.0.0.1:" + std::to_string(f.grpc_server->bound_port());
}

grpc::Status Acquire(Stub& stub, const lockd::v1::LockRef& ref, const std::string& lease_id,
                     uint32_t wait_ms, lockd::v1::AcquireResponse* response) {
  lockd::v1::AcquireRequest request;
  *request.mutable_lock() = ref;
  request.set_lease_id(lease_id);
  request.set_mode(lockd::v1::EXCLUSIVE);
  request.set_ttl_ms(10000);
  request.set_wait_ms(wait_ms);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(wait_ms) + std::chrono::seconds(10));
  return stub.Acquire(&context, request, response);
}

grpc::Status Release(Stub& stub, const lockd::v1::LockRef& ref, const std::string& lease_id,
                     lockd::v1::ReleaseResponse* response) {
  lockd::v1::ReleaseRequest request;
  *request.mutable_lock() = ref;
  request.set_lease_id(lease_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub.Release(&context, request, response);
}

// An Inspect (no NFS request in lockd) that must succeed.
void MustInspect(Stub& stub, const lockd::v1::LockRef& ref) {
  lockd::v1::InspectRequest request;
  *request.mutable_lock() = ref;
  lockd::v1::InspectResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = stub.Inspect(&context, request, &response);
  if (!status.ok()) Die("Inspect failed: " + status.error_message());
}

void MustGrant(const grpc::Status& status, const lockd::v1::AcquireResponse& response) {
  if (!status.ok()) Die("Acquire failed: " + status.error_message());
  if (!response.granted()) Die("an uncontended Acquire was not granted");
}

void MustRelease(const grpc::Status& status, const lockd::v1::ReleaseResponse& response) {
  if (!status.ok()) Die("Release failed: " + status.error_message());
  if (!response.was_held()) Die("Release of a held lease answered was_held=false");
}

// 1. The baseline: one GETATTR round trip.
void GetattrBaseline(Fixture& f) {
  const uint64_t before = f.client->RequestCount();
  Must(f.client->Stat("/"));
  const uint64_t per_stat = f.client->RequestCount() - before;
  std::vector<double> latencies = Sample([&] { Must(f.client->Stat("/")); });
  const double p50 = Percentile(latencies, 0.5);
  Emit("lockd.nfs_getattr_round_trip_p50", "ms", Ms(p50));
  Emit("lockd.nfs_getattr_round_trip_p99", "ms", Ms(Percentile(latencies, 0.99)));
  Note("nfs::Client::Stat(\"/\") sends " + std::to_string(per_stat) + " NFS request(s)");
}

// Runs `sample` between two runs of 1,000 GETATTRs and returns the p50 of those 2,000. The
// host's round trip drifts by up to 2x within a minute, so each goal comparison takes its
// baseline from the seconds around it, not from the start of the run.
double GetattrP50Around(Fixture& f, const std::function<void()>& sample) {
  constexpr int kAround = 1000;
  const auto getattr = [&] { Must(f.client->Stat("/")); };
  std::vector<double> getattr_s = Sample(getattr, kAround);
  sample();
  const std::vector<double> after = Sample(getattr, kAround);
  getattr_s.insert(getattr_s.end(), after.begin(), after.end());
  return Percentile(getattr_s, 0.5);
}

void EmitLatency(const std::string& name, const std::vector<double>& latencies, double getattr_p50) {
  const double p50 = Percentile(latencies, 0.5);
  const double budget = 3 * getattr_p50;  // the goal: p50 within three GETATTR round trips
  EmitVs(name + "_p50", "ms", Ms(p50), "3_getattr_round_trips_around", Ms(budget), budget / p50);
  Emit(name + "_p99", "ms", Ms(Percentile(latencies, 0.99)));
  Emit(name + "_p50_in_getattr_round_trips", "round_trips", p50 / getattr_p50);
}

// 2. Uncontended acquire + release, raw and through the client library, and the pieces.
void Uncontended(Fixture& f) {
  std::unique_ptr<Stub> stub = f.NewStub();
  const lockd::v1::LockRef ref = f.Ref("bench-uncontended");

  std::vector<double> acquire_s;
  std::vector<double> release_s;
  std::vector<double> both_s;
  int round = 0;
  auto one = [&] {
    const std::string lease_id = lockd::NewLeaseId();
    lockd::v1::AcquireResponse acquired;
    lockd::v1::ReleaseResponse released;
    const auto start = Clock::now();
    MustGrant(Acquire(*stub, ref, lease_id, 0, &acquired), acquired);
    const auto granted = Clock::now();
    MustRelease(Release(*stub, ref, lease_id, &released), released);
    const auto end = Clock::now();
    if (round++ >= kWarmup) {
      acquire_s.push_back(Seconds(granted - start).count());
      release_s.push_back(Seconds(end - granted).count());
      both_s.push_back(Seconds(end - start).count());
    }
  };
  double self_cpu = 0;
  double ganesha_cpu = 0;
  double getattr_p50 = GetattrP50Around(f, [&] {
    for (int i = 0; i < kWarmup; ++i) one();
    const double self_cpu0 = SelfCpuSeconds();
    const double ganesha_cpu0 = ProcessCpuSeconds(f.server->pid());
    for (int i = 0; i < kSamples; ++i) one();
    self_cpu = SelfCpuSeconds() - self_cpu0;
    ganesha_cpu = ProcessCpuSeconds(f.server->pid()) - ganesha_cpu0;
  });
  EmitLatency("lockd.acquire_release_raw", both_s, getattr_p50);
  Emit("lockd.acquire_release_raw_cpu_bench_process", "ms/cycle", Ms(self_cpu / kSamples));
  Emit("lockd.acquire_release_raw_cpu_ganesha", "ms/cycle", Ms(ganesha_cpu / kSamples));
  Emit("lockd.acquire_alone_raw_p50", "ms", Ms(Percentile(acquire_s, 0.5)));
  Emit("lockd.release_alone_raw_p50", "ms", Ms(Percentile(release_s, 0.5)));

  // The same over one Session stream (lockd.proto), raw: a message each way per call.
  {
    grpc::ClientContext context;
    auto session = stub->Session(&context);
    uint64_t call_id = 0;
    auto exchange = [&](lockd::v1::SessionRequest& request) {
      request.set_call_id(++call_id);
      lockd::v1::SessionResponse response;
      if (!session->Write(request) || !session->Read(&response)) Die("the session broke");
      if (response.code() != 0) Die("session call failed: " + response.message());
      return response;
    };
    std::vector<double> session_acquire_s;
    std::vector<double> session_release_s;
    std::vector<double> session_s;
    getattr_p50 = GetattrP50Around(f, [&] { session_s = Sample([&] {
      lockd::v1::SessionRequest acquire;
      *acquire.mutable_acquire()->mutable_lock() = ref;
      acquire.mutable_acquire()->set_lease_id(lockd::NewLeaseId());
      acquire.mutable_acquire()->set_mode(lockd::v1::EXCLUSIVE);
      acquire.mutable_acquire()->set_ttl_ms(10000);
      lockd::v1::SessionRequest release;
      *release.mutable_release()->mutable_lock() = ref;
      release.mutable_release()->set_lease_id(acquire.acquire().lease_id());
      const auto start = Clock::now();
      if (!exchange(acquire).acquire().granted()) Die("an uncontended Acquire was not granted");
      const auto granted = Clock::now();
      if (!exchange(release).release().was_held()) Die("Release of a held lease answered was_held=false");
      session_acquire_s.push_back(Seconds(granted - start).count());
      session_release_s.push_back(Seconds(Clock::now() - granted).count());
    }); });
    session->WritesDone();
    if (!session->Finish().ok()) Die("the session did not end cleanly");
    EmitLatency("lockd.acquire_release_session", session_s, getattr_p50);
    Emit("lockd.acquire_alone_session_p50", "ms", Ms(Percentile(session_acquire_s, 0.5)));
    Emit("lockd.release_alone_session_p50", "ms", Ms(Percentile(session_release_s, 0.5)));
  }

  // A gRPC call into the service that does no NFS: what lockd costs above its NFS requests.
  const std::vector<double> inspect_s = Sample([&] { MustInspect(*stub, ref); });
  Emit("lockd.inspect_no_nfs_p50", "ms", Ms(Percentile(inspect_s, 0.5)));

  // A call lockd refuses before any work (a malformed lease ID): the bare gRPC round trip. Its
  // WARN log line is muted for this step only.
  spdlog::set_level(spdlog::level::err);
  const std::vector<double> rejected_s = Sample([&] {
    lockd::v1::ReleaseResponse response;
    grpc::Status status = Release(*stub, ref, "x", &response);
    if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) Die("a bad lease ID was not refused");
  });
  spdlog::set_level(spdlog::level::warn);
  Emit("lockd.grpc_refused_call_p50", "ms", Ms(Percentile(rejected_s, 0.5)));

  // The NFS work of a grant (its lease record) and a release (deleting it), on our own client:
  // the same LeaseStore calls the service makes, on a lock of its own.
  lockd::LeaseStore store(f.client);
  const std::string name = "bench-store-pieces";
  Must(store.Reserve(f.volume_key, name, 1, {1 << 20}));  // as the service does once per token block
  uint64_t token = 0;
  uint64_t put_requests = 0;
  uint64_t delete_requests = 0;
  std::vector<double> put_s;
  std::vector<double> delete_s;
  for (int i = 0; i < kWarmup + kSamples; ++i) {
    const lockd::StoredLease lease{lockd::NewLeaseId(), lockd::LockMode::kExclusive, ++token,
                                   milliseconds(10000)};
    const uint64_t r0 = f.client->RequestCount();
    const auto t0 = Clock::now();
    Must(store.PutLease(f.volume_key, name, lease));
    const uint64_t r1 = f.client->RequestCount();
    const auto t1 = Clock::now();
    Must(store.DeleteLease(f.volume_key, name, lease.lease_id));
    const auto t2 = Clock::now();
    const uint64_t r2 = f.client->RequestCount();
    if (i >= kWarmup) {
      put_s.push_back(Seconds(t1 - t0).count());
      delete_s.push_back(Seconds(t2 - t1).count());
      put_requests += r1 - r0;
      delete_requests += r2 - r1;
    }
  }
  Emit("lockd.store_put_lease_p50", "ms", Ms(Percentile(put_s, 0.5)));
  Emit("lockd.store_delete_lease_p50", "ms", Ms(Percentile(delete_s, 0.5)));
  Emit("lockd.nfs_requests_per_grant", "requests", static_cast<double>(put_requests) / kSamples);
  Emit("lockd.nfs_requests_per_release", "requests", static_cast<double>(delete_requests) / kSamples);
  Note("NFS requests per grant/release counted on the bench's own client making the service's "
       "LeaseStore calls (the service's client is private); a grant also writes the tokens "
       "record once per 1024 tokens, and the first call on a volume reads its record (cached 30 s)");

  // Through the client library: a Lease starts (and Release joins) its renewal thread.
  lockd::LockFile file{f.volume_id, f.address, f.key->SecretFor(f.volume_id), ""};
  std::unique_ptr<lockd::LockClient> client = Must(lockd::LockClient::Open(file));
  lockd::AcquireOptions options;
  options.ttl = milliseconds(10000);
  options.timeout = milliseconds(0);
  std::vector<double> library_s;
  getattr_p50 = GetattrP50Around(f, [&] { library_s = Sample([&] {
    std::unique_ptr<lockd::Lease> lease = Must(client->Acquire("bench-library", options));
    Must(lease->Release());
  }); });
  EmitLatency("lockd.acquire_release_library", library_s, getattr_p50);
}

struct ContendedResult {
  double grants_per_s = 0;
  int failures = 0;  // violations, plus 1 if any call failed
};

// 3. `contenders` threads on one lock for `run`, reported as lockd.<label>.*.
ContendedResult Contended(Fixture& f, int contenders, std::chrono::seconds run, const std::string& label,
                          double baseline_grants_per_s) {
  const lockd::v1::LockRef ref = f.Ref("bench-" + label);
  std::vector<std::unique_ptr<Stub>> stubs;
  for (int i = 0; i < contenders; ++i) stubs.push_back(f.NewStub());
  // Connect every channel before the clock starts.
  for (auto& stub : stubs) MustInspect(*stub, ref);

  std::atomic<int> holders{0};
  std::atomic<int> violations{0};
  std::atomic<uint64_t> last_token{0};
  std::atomic<uint64_t> not_granted{0};
  std::atomic<uint64_t> errors{0};          // failed Acquires
  std::atomic<uint64_t> release_errors{0};
  std::mutex mu;
  std::vector<double> waits_s;  // guarded by mu
  std::latch ready(contenders + 1);
  Clock::time_point stop_at;
  std::vector<std::thread> threads;
  for (int t = 0; t < contenders; ++t) {
    threads.emplace_back([&, t] {
      Stub& stub = *stubs[static_cast<std::size_t>(t)];
      std::vector<double> mine;
      ready.arrive_and_wait();
      while (Clock::now() < stop_at) {
        const std::string lease_id = lockd::NewLeaseId();
        lockd::v1::AcquireResponse acquired;
        const auto start = Clock::now();
        grpc::Status status = Acquire(stub, ref, lease_id, 10000, &acquired);
        mine.push_back(Seconds(Clock::now() - start).count());
        if (!status.ok()) {
          if (errors++ < 5) std::fprintf(stderr, "Acquire failed: %s\n", status.error_message().c_str());
          continue;
        }
        if (!acquired.granted()) {
          ++not_granted;
          continue;
        }
        const int now_holding = holders.fetch_add(1) + 1;
        if (now_holding > 1) {
          ++violations;
          std::fprintf(stderr, "VIOLATION: %d holders of an exclusive lock (lease %s)\n", now_holding,
                       lease_id.c_str());
        }
        const uint64_t token = acquired.lease().fencing_token();
        const uint64_t previous = last_token.exchange(token);
        if (token <= previous) {
          ++violations;
          std::fprintf(stderr, "VIOLATION: fencing token %llu granted after %llu\n",
                       static_cast<unsigned long long>(token), static_cast<unsigned long long>(previous));
        }
        holders.fetch_sub(1);
        lockd::v1::ReleaseResponse released;
        status = Release(stub, ref, lease_id, &released);
        if (!status.ok() && release_errors++ < 5) {
          std::fprintf(stderr, "Release failed: %s\n", status.error_message().c_str());
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      waits_s.insert(waits_s.end(), mine.begin(), mine.end());
    });
  }
  const double self_cpu0 = SelfCpuSeconds();
  const double ganesha_cpu0 = ProcessCpuSeconds(f.server->pid());
  const auto start = Clock::now();
  stop_at = start + run;
  ready.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  const double elapsed = Seconds(Clock::now() - start).count();
  const double self_cpu = SelfCpuSeconds() - self_cpu0;
  const double ganesha_cpu = ProcessCpuSeconds(f.server->pid()) - ganesha_cpu0;

  const auto grants = static_cast<double>(waits_s.size() - not_granted - errors);
  const std::string n = "lockd." + label;
  if (baseline_grants_per_s > 0) {
    EmitVs(n + ".grants_per_s", "grants/s", grants / elapsed, "contended_1_grants_per_s", baseline_grants_per_s,
           grants / elapsed / baseline_grants_per_s);
  } else {
    Emit(n + ".grants_per_s", "grants/s", grants / elapsed);
  }
  Emit(n + ".grants", "grants", grants);
  Emit(n + ".elapsed", "s", elapsed);
  Emit(n + ".longest_wait", "ms", Ms(*std::max_element(waits_s.begin(), waits_s.end())));
  Emit(n + ".p99_wait", "ms", Ms(Percentile(waits_s, 0.99)));
  Emit(n + ".p50_wait", "ms", Ms(Percentile(waits_s, 0.5)));
  Emit(n + ".not_granted", "acquires", static_cast<double>(not_granted));
  Emit(n + ".errors", "calls", static_cast<double>(errors + release_errors));
  Emit(n + ".violations", "violations", violations.load());
  Emit(n + ".cpu_bench_process", "ms/grant", Ms(self_cpu / grants));
  Emit(n + ".cpu_ganesha", "ms/grant", Ms(ganesha_cpu / grants));
  Note(label + ": CPU used " + std::to_string(self_cpu) + " s by the bench process (lockd + callers), " +
       std::to_string(ganesha_cpu) + " s by nfs-ganesha, in " + std::to_string(elapsed) + " s on " +
       std::to_string(std::thread::hardware_concurrency()) + " cores");
  Note(label + ": a FIFO wait should be about " + std::to_string(contenders) +
       " x one grant + release cycle (" +
       std::to_string(Ms(elapsed / grants * contenders)) + " ms here); holders counter and fencing "
       "tokens checked on every grant");
  return {grants / elapsed, violations.load() + (errors.load() + release_errors.load() > 0 ? 1 : 0)};
}

int Main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout carries the JSON
  spdlog::set_level(spdlog::level::warn);
  Note("spdlog level set to warn: lockd logs one info line per call, which would be timed too");
  Fixture f;
  StartFixture(f);
  GetattrBaseline(f);
  Uncontended(f);
  // One caller looping the same blocking acquire + release: the grant rate without contention.
  const ContendedResult one = Contended(f, 1, std::chrono::seconds(2), "contended_1", 0);
  const ContendedResult many = Contended(f, 64, std::chrono::seconds(5), "contended_64", one.grants_per_s);
  const int failures = one.failures + many.failures;
  f.grpc_server->Shutdown(milliseconds(0));
  if (failures > 0) Die(std::to_string(failures) + " violation(s) or failed call(s) under contention");
  return 0;
}

}  // namespace
}  // namespace nfsprov::bench

int main() { return nfsprov::bench::Main(); }
