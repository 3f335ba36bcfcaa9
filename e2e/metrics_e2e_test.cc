// End to end for --metrics-address (docs/metrics.md): the real controller, node plugin and lockd
// serve /metrics and /healthz over HTTP; the counts are those of the calls this test made, and
// every scrape is read with the strict exposition parser (tests/support/prometheus_text.h).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "e2e/cluster.h"
#include "mount/subprocess.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/prometheus_text.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::FindSample;
using testing::PromText;

int FreePort() {
  Result<int> port = testing::PickFreePort();
  EXPECT_TRUE(port.ok()) << port.status().ToString();
  return port.ok() ? *port : 0;
}

std::string MetricsFlag(int port) { return "127.0.0.1:" + std::to_string(port); }

// GET path on 127.0.0.1:port; the status (0 when nothing answered) and the body.
std::pair<int, std::string> Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  httplib::Result res = client.Get(path);
  if (!res) return {0, ""};
  return {res->status, res->body};
}

// /metrics, checked: 200, the 0.0.4 content type, and text the strict parser accepts.
PromText Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  httplib::Result res = client.Get("/metrics");
  if (!res) {
    ADD_FAILURE() << "no answer from /metrics on port " << port;
    return {};
  }
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  Result<PromText> parsed = testing::ParsePrometheusText(res->body);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << res->body;
  return parsed.ok() ? *parsed : PromText{};
}

double Requests(const PromText& text, const std::string& method, const std::string& code) {
  return FindSample(text, "nfsprov_grpc_requests_total", {{"method", method}, {"code", code}})
      .value_or(0);
}

class MetricsE2E : public ClusterTest {};

TEST_F(MetricsE2E, ControllerCountsItsCallsAndReportsVolumes) {
  const int port = FreePort();
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--metrics-address", MetricsFlag(port), "--usage-interval", "0.2"}));
  EXPECT_EQ(Get(port, "/healthz"), std::make_pair(200, std::string("ok\n")));

  auto request = CreateRequest("pvc-metrics", {{"subDir", "metrics"}});
  request.mutable_capacity_range()->set_required_bytes(5 << 20);
  ::csi::v1::Volume volume;
  ASSERT_GRPC_OK(Create(request, &volume));
  EXPECT_EQ(Create(CreateRequest("pvc-bad", {{"colour", "blue"}})).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  PromText created = Scrape(port);
  EXPECT_EQ(Requests(created, "CreateVolume", "OK"), 1);
  EXPECT_EQ(Requests(created, "CreateVolume", "INVALID_ARGUMENT"), 1);
  EXPECT_GE(Requests(created, "Probe", "OK"), 1);  // the start-up readiness check's
  EXPECT_EQ(FindSample(created, "nfsprov_grpc_request_duration_seconds_count",
                       {{"method", "CreateVolume"}}),
            2);
  EXPECT_TRUE(FindSample(created, "nfsprov_reaper_backlog").has_value());
  EXPECT_EQ(created.at("nfsprov_grpc_request_duration_seconds").type, "histogram");
  // Usage comes from the scanner's last scan, in memory: 1 MiB written shows up within a few
  // scans. Waited for, as is the state after the delete: a usage listing in flight during the
  // call may hide the change until the next listing (docs/metrics.md).
  ASSERT_TRUE(WriteFile(Local("metrics/data"), std::string(1 << 20, 'x')));
  EXPECT_TRUE(WaitFor([&] {
    return FindSample(Scrape(port), "nfsprov_volume_used_bytes", {{"volume", "pvc-metrics"}})
               .value_or(0) >= (1 << 20);
  }));
  PromText scanned = Scrape(port);
  EXPECT_EQ(FindSample(scanned, "nfsprov_volumes", {{"state", "ready"}}), 1);
  EXPECT_EQ(FindSample(scanned, "nfsprov_volumes", {{"state", "creating"}}), 0);
  EXPECT_EQ(FindSample(scanned, "nfsprov_volume_capacity_bytes", {{"volume", "pvc-metrics"}}), 5 << 20);

  ASSERT_GRPC_OK(Delete(volume.volume_id()));
  EXPECT_TRUE(WaitFor([&] {
    PromText now = Scrape(port);
    return FindSample(now, "nfsprov_volumes", {{"state", "ready"}}) == 0 &&
           !FindSample(now, "nfsprov_volume_capacity_bytes", {{"volume", "pvc-metrics"}});
  }));
  PromText deleted = Scrape(port);
  EXPECT_EQ(Requests(deleted, "DeleteVolume", "OK"), 1);
  EXPECT_EQ(Requests(deleted, "CreateVolume", "OK"), 1);

  // SIGTERM stops the HTTP server with the gRPC one, and the process exits 0.
  ASSERT_TRUE(controller_process_->Stop().ok());
  EXPECT_EQ(Get(port, "/healthz").first, 0);
}

TEST_F(MetricsE2E, NodeServesMetricsAndHealth) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({}));
  const int port = FreePort();
  fs::create_directories(dir_ + "/n1");
  auto node = DriverProcess::Start({"node", "--node-id", "n1", "--mounter", "kernel", "--state-dir",
                                    dir_ + "/n1", "--metrics-address", MetricsFlag(port)},
                                   dir_ + "/n1.sock");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(Get(port, "/healthz"), std::make_pair(200, std::string("ok\n")));
  auto stub = ::csi::v1::Node::NewStub((*node)->Channel());
  grpc::ClientContext context;
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_GRPC_OK(stub->NodeGetInfo(&context, {}, &info));
  EXPECT_EQ(Requests(Scrape(port), "NodeGetInfo", "OK"), 1);
  ASSERT_TRUE((*node)->Stop().ok());
  EXPECT_EQ(Get(port, "/healthz").first, 0);
}

// The lock key file and lockd's socket live outside dir_, which StartCluster makes.
std::string LockDir() {
  return fs::temp_directory_path() / ("nfsprov-metrics-locks-" + std::to_string(getpid()));
}

std::string WriteLockKey(const std::string& dir) {
  fs::create_directories(dir);
  std::ofstream(dir + "/lock-key") << "e2e-lock-key-0123456789abcdef0123456789\n";
  return dir + "/lock-key";
}

TEST_F(MetricsE2E, LockdReportsLocksHeldAndWaiting) {
  const std::string lock_dir = LockDir(), key = WriteLockKey(lock_dir), socket = lock_dir + "/lockd.sock";
  const int port = FreePort();
  auto lockd = DriverProcess::Start({"lockd", "--lock-key-file", key, "--metrics-address", MetricsFlag(port)},
                                    socket);
  ASSERT_TRUE(lockd.ok()) << lockd.status().ToString();
  EXPECT_EQ(Get(port, "/healthz"), std::make_pair(200, std::string("ok\n")));
  ASSERT_NO_FATAL_FAILURE(
      StartCluster({"--lock-key-file", key, "--lockd-address", "unix://" + socket}));
  MustCreate("pvc-locked", {{"locks", "true"}, {"subDir", "locked"}});
  PromText idle = Scrape(port);
  EXPECT_EQ(FindSample(idle, "nfsprov_locks_held"), 0);
  EXPECT_EQ(FindSample(idle, "nfsprov_locks_waiting"), 0);

  // `nfsprov lock` reads the lock file in the volume directory: here the export's own copy.
  const std::string volume_dir = Local("locked"), held = dir_ + "/held", release = dir_ + "/release";
  auto lock = [&](const std::vector<std::string>& command) {
    std::vector<std::string> argv = {DriverBinary(), "lock", "--volume-dir", volume_dir, "--name", "m", "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    auto outcome = mount::RunProcess(argv, std::chrono::seconds(120));
    EXPECT_TRUE(outcome.ok() && outcome->success())
        << (outcome.ok() ? outcome->Describe() + ": " + outcome->output : outcome.status().ToString());
  };
  std::thread holder(lock, std::vector<std::string>{
      "sh", "-c", "touch '" + held + "'; while [ ! -e '" + release + "' ]; do sleep 0.05; done"});
  std::thread waiter;
  ASSERT_TRUE(WaitFor([&] { return fs::exists(held); }, std::chrono::seconds(60)));
  EXPECT_EQ(FindSample(Scrape(port), "nfsprov_locks_held"), 1);
  waiter = std::thread(lock, std::vector<std::string>{"true"});
  EXPECT_TRUE(WaitFor([&] { return FindSample(Scrape(port), "nfsprov_locks_waiting") == 1; }));
  std::ofstream(release).flush();
  holder.join();
  waiter.join();

  PromText done = Scrape(port);
  EXPECT_EQ(FindSample(done, "nfsprov_locks_held"), 0);
  EXPECT_EQ(FindSample(done, "nfsprov_locks_waiting"), 0);
  // `nfsprov lock` tries over its session first and queues with the RPC; it releases over the
  // session: the holder's grant and the waiter's try, the waiter's queued call, two releases.
  EXPECT_EQ(Requests(done, "lockd.Session.Acquire", "OK"), 2);
  EXPECT_EQ(Requests(done, "lockd.Acquire", "OK"), 1);
  EXPECT_EQ(Requests(done, "lockd.Session.Release", "OK"), 2);
  EXPECT_EQ(Requests(done, "lockd.Release", "OK"), 0);
  ASSERT_TRUE((*lockd)->Stop().ok());
  EXPECT_EQ(Get(port, "/healthz").first, 0);
  fs::remove_all(lock_dir);
}

// A metrics port another process holds: the server refuses to start, naming the flag. The holder
// allows SO_REUSEPORT, as another nfsprov's would if the server set it: still refused.
TEST(MetricsFlagE2E, BusyPortIsAnErrorNamingTheFlag) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int yes = 1;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes)), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = MetricsFlag(ntohs(addr.sin_port));
  const std::string lock_dir = LockDir(), socket = lock_dir + "/busy.sock";
  const std::string key = WriteLockKey(lock_dir);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"controller"}, {"node", "--node-id", "n1"}, {"lockd", "--lock-key-file", key}}) {
    std::vector<std::string> argv = {DriverBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--endpoint", "unix://" + socket, "--metrics-address", address});
    auto outcome = mount::RunProcess(argv, std::chrono::seconds(60));
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    EXPECT_NE(outcome->exit_code, 0) << args[0];
    EXPECT_FALSE(outcome->timed_out) << args[0];
    EXPECT_THAT(outcome->output, HasSubstr("--metrics-address: cannot serve metrics on " + address)) << args[0];
    EXPECT_FALSE(fs::exists(socket)) << args[0] << ": nothing served gRPC";
  }
  ::close(fd);
  fs::remove_all(lock_dir);
}

}  // namespace
}  // namespace nfsprov::e2e
