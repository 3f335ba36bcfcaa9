// CsiServer + IdentityService over real sockets, called with the generated CSI stub the way
// kubelet and the sidecars call the driver.
#include "csi/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "csi/csi.grpc.pb.h"
#include "csi/endpoint.h"
#include "csi/identity_service.h"

namespace nfsprov::csi {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::csi::v1;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kDriver[] = "nfs.csi.nfsprov.io";
constexpr char kVersion[] = "1.2.3";

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A unix socket bound at `path`; listening or not.
int BindUnixSocket(const std::string& path, bool listen) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0) << path;
  if (listen) {
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  return fd;
}

class CsiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short and under /tmp: socket paths must fit in sun_path.
    char dir[] = "/tmp/nfsprov-csi-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    socket_path_ = dir_ + "/plugin/csi.sock";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Endpoint UnixEndpoint() const {
    Result<Endpoint> e = ParseEndpoint("unix://" + socket_path_);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return *e;
  }

  static std::unique_ptr<IdentityService> Identity(
      bool controller, bool online_expansion,
      std::function<Status()> probe = [] { return Status(); }) {
    return std::make_unique<IdentityService>(kDriver, kVersion, controller, online_expansion,
                                             std::move(probe));
  }

  std::unique_ptr<CsiServer> StartOrDie(const Endpoint& endpoint, grpc::Service* service) {
    Result<std::unique_ptr<CsiServer>> server = CsiServer::Start(endpoint, {service});
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }

  static std::unique_ptr<v1::Identity::Stub> Stub(const std::string& target) {
    return v1::Identity::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<v1::Identity::Stub> UnixStub() const { return Stub("unix://" + socket_path_); }

  // Every call has a deadline, so a server that does not answer fails the test, not hangs it.
  static void SetDeadline(grpc::ClientContext& context, milliseconds timeout = milliseconds(5000)) {
    context.set_deadline(std::chrono::system_clock::now() + timeout);
  }

  static grpc::Status CallProbe(v1::Identity::Stub& stub, v1::ProbeResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    return stub.Probe(&context, v1::ProbeRequest(), response);
  }

  static grpc::Status CallInfo(v1::Identity::Stub& stub, v1::GetPluginInfoResponse* response) {
    grpc::ClientContext context;
    SetDeadline(context);
    return stub.GetPluginInfo(&context, v1::GetPluginInfoRequest(), response);
  }

  std::string dir_;
  std::string socket_path_;
};

TEST_F(CsiServerTest, GetPluginInfoOverUnixSocketCreatingTheDirectory) {
  ASSERT_FALSE(fs::exists(dir_ + "/plugin"));
  auto identity = Identity(true, false);
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(IsSocket(socket_path_));
  EXPECT_EQ(server->bound_port(), 0);

  v1::GetPluginInfoResponse info;
  const grpc::Status status = CallInfo(*UnixStub(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), kDriver);
  EXPECT_EQ(info.vendor_version(), kVersion);
  EXPECT_TRUE(info.manifest().empty());
}

TEST_F(CsiServerTest, CapabilitiesOfAControllerWithOnlineExpansion) {
  auto identity = Identity(true, true);
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);

  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetPluginCapabilitiesResponse caps;
  const grpc::Status status =
      UnixStub()->GetPluginCapabilities(&context, v1::GetPluginCapabilitiesRequest(), &caps);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(caps.capabilities_size(), 2);
  ASSERT_TRUE(caps.capabilities(0).has_service());
  EXPECT_EQ(caps.capabilities(0).service().type(),
            v1::PluginCapability::Service::CONTROLLER_SERVICE);
  ASSERT_TRUE(caps.capabilities(1).has_volume_expansion());
  EXPECT_EQ(caps.capabilities(1).volume_expansion().type(),
            v1::PluginCapability::VolumeExpansion::ONLINE);
}

TEST_F(CsiServerTest, CapabilitiesOfANodePluginHaveNoControllerService) {
  for (const bool online : {false, true}) {
    SCOPED_TRACE(online ? "online expansion" : "no expansion");
    auto identity = Identity(false, online);
    auto server = StartOrDie(UnixEndpoint(), identity.get());
    ASSERT_NE(server, nullptr);

    grpc::ClientContext context;
    SetDeadline(context);
    v1::GetPluginCapabilitiesResponse caps;
    const grpc::Status status =
        UnixStub()->GetPluginCapabilities(&context, v1::GetPluginCapabilitiesRequest(), &caps);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& cap : caps.capabilities()) EXPECT_FALSE(cap.has_service());
    EXPECT_EQ(caps.capabilities_size(), online ? 1 : 0);
    server->Shutdown(milliseconds(0));
  }
}

TEST_F(CsiServerTest, ProbeReadyAndNotHealthy) {
  std::atomic<bool> healthy{true};
  auto identity = Identity(true, false, [&healthy]() -> Status {
    if (healthy.load()) return {};
    return Unavailable("metadata store on nfs-1:/export unreadable");
  });
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);
  auto stub = UnixStub();

  v1::ProbeResponse ready;
  grpc::Status status = CallProbe(*stub, &ready);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(ready.has_ready());
  EXPECT_TRUE(ready.ready().value());

  healthy = false;  // the probe function runs on every call
  v1::ProbeResponse not_ready;
  status = CallProbe(*stub, &not_ready);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("UNAVAILABLE: metadata store on nfs-1:/export unreadable"),
            std::string::npos)
      << status.error_message();

  healthy = true;
  v1::ProbeResponse again;
  status = CallProbe(*stub, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(again.ready().value());
}

TEST_F(CsiServerTest, StaleSocketIsReplaced) {
  fs::create_directories(dir_ + "/plugin");
  ::close(BindUnixSocket(socket_path_, /*listen=*/false));  // what a crashed driver leaves
  ASSERT_TRUE(IsSocket(socket_path_));

  auto identity = Identity(true, false);
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);
  v1::GetPluginInfoResponse info;
  const grpc::Status status = CallInfo(*UnixStub(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), kDriver);
}

TEST_F(CsiServerTest, LiveSocketOfAnotherServerIsAlreadyExistsAndLeftAlone) {
  auto first_identity = Identity(true, false);
  auto first = StartOrDie(UnixEndpoint(), first_identity.get());
  ASSERT_NE(first, nullptr);

  auto second_identity = Identity(false, false);
  Result<std::unique_ptr<CsiServer>> second =
      CsiServer::Start(UnixEndpoint(), {second_identity.get()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find("another process serves " + socket_path_),
            std::string::npos)
      << second.status().ToString();

  // The first server still owns the path and answers on it.
  v1::GetPluginInfoResponse info;
  const grpc::Status status = CallInfo(*UnixStub(), &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(CsiServerTest, LiveNonGrpcListenerIsAlreadyExists) {
  fs::create_directories(dir_ + "/plugin");
  const int listener = BindUnixSocket(socket_path_, /*listen=*/true);
  auto identity = Identity(true, false);
  Result<std::unique_ptr<CsiServer>> server = CsiServer::Start(UnixEndpoint(), {identity.get()});
  EXPECT_EQ(server.status().code(), StatusCode::kAlreadyExists) << server.status().ToString();
  EXPECT_TRUE(IsSocket(socket_path_));
  ::close(listener);
}

TEST_F(CsiServerTest, RegularFileAtTheSocketPathIsNeverRemoved) {
  fs::create_directories(dir_ + "/plugin");
  { std::ofstream(socket_path_) << "precious"; }
  auto identity = Identity(true, false);
  Result<std::unique_ptr<CsiServer>> server = CsiServer::Start(UnixEndpoint(), {identity.get()});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kFailedPrecondition) << server.status().ToString();
  EXPECT_NE(server.status().message().find("not a socket"), std::string::npos);
  ASSERT_TRUE(fs::is_regular_file(socket_path_));
  std::string content;
  std::ifstream(socket_path_) >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(CsiServerTest, DirectoryAtTheSocketPathIsNeverRemoved) {
  fs::create_directories(socket_path_ + "/inside");
  auto identity = Identity(true, false);
  Result<std::unique_ptr<CsiServer>> server = CsiServer::Start(UnixEndpoint(), {identity.get()});
  EXPECT_EQ(server.status().code(), StatusCode::kFailedPrecondition) << server.status().ToString();
  EXPECT_TRUE(fs::is_directory(socket_path_ + "/inside"));
}

TEST_F(CsiServerTest, ShutdownWaitsForAnInFlightCallAndRemovesTheSocket) {
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  auto identity = Identity(true, false, [&]() -> Status {
    started = true;
    std::this_thread::sleep_for(milliseconds(300));
    finished = true;
    return {};
  });
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);
  auto stub = UnixStub();

  v1::ProbeResponse response;
  auto call = std::async(std::launch::async, [&] { return CallProbe(*stub, &response); });
  const auto wait_until = steady_clock::now() + milliseconds(5000);
  while (!started && steady_clock::now() < wait_until) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(started);

  server->Shutdown(milliseconds(2000));
  EXPECT_TRUE(finished) << "Shutdown returned before the in-flight handler finished";
  EXPECT_FALSE(fs::exists(socket_path_)) << "Shutdown must remove the socket file";

  const grpc::Status status = call.get();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_TRUE(response.ready().value());

  // Nothing answers any more.
  v1::GetPluginInfoResponse info;
  grpc::ClientContext context;
  SetDeadline(context, milliseconds(500));
  EXPECT_FALSE(stub->GetPluginInfo(&context, v1::GetPluginInfoRequest(), &info).ok());

  server->Shutdown(milliseconds(2000));  // idempotent
}

// A callback method answers after its handler has returned (CreateVolume does, from the NFS
// reply); it is being served until then, so Shutdown waits for it as for a sync handler.
class LateProbe final : public v1::Identity::WithCallbackMethod_Probe<v1::Identity::Service> {
 public:
  grpc::ServerUnaryReactor* Probe(grpc::CallbackServerContext*, const v1::ProbeRequest*,
                                  v1::ProbeResponse* response) override {
    auto* reactor = new ServedReactor();
    started = true;
    answering = std::thread([this, reactor, response] {
      std::this_thread::sleep_for(milliseconds(300));
      response->mutable_ready()->set_value(true);
      finished = true;
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }
  ~LateProbe() override {
    if (answering.joinable()) answering.join();
  }

  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::thread answering;
};

TEST_F(CsiServerTest, ShutdownWaitsForACallbackCallAnsweredAfterItsHandlerReturned) {
  LateProbe identity;
  auto server = StartOrDie(UnixEndpoint(), &identity);
  ASSERT_NE(server, nullptr);
  auto stub = UnixStub();

  v1::ProbeResponse response;
  auto call = std::async(std::launch::async, [&] { return CallProbe(*stub, &response); });
  const auto wait_until = steady_clock::now() + milliseconds(5000);
  while (!identity.started && steady_clock::now() < wait_until) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(identity.started);

  server->Shutdown(milliseconds(2000));
  EXPECT_TRUE(identity.finished) << "Shutdown returned before the callback call was answered";
  const grpc::Status status = call.get();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_TRUE(response.ready().value());
}

TEST_F(CsiServerTest, ShutdownCancelsCallsThatOutliveTheGrace) {
  std::atomic<bool> started{false};
  auto identity = Identity(true, false, [&]() -> Status {
    started = true;
    std::this_thread::sleep_for(milliseconds(1500));
    return {};
  });
  auto server = StartOrDie(UnixEndpoint(), identity.get());
  ASSERT_NE(server, nullptr);
  auto stub = UnixStub();

  v1::ProbeResponse response;
  auto call = std::async(std::launch::async, [&] { return CallProbe(*stub, &response); });
  const auto wait_until = steady_clock::now() + milliseconds(5000);
  while (!started && steady_clock::now() < wait_until) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_TRUE(started);

  const auto shutdown_at = steady_clock::now();
  std::thread shutdown([&] { server->Shutdown(milliseconds(100)); });
  // The client learns of the cancellation at the end of the grace, not when the handler ends.
  ASSERT_EQ(call.wait_for(milliseconds(1000)), std::future_status::ready);
  const grpc::Status status = call.get();
  EXPECT_FALSE(status.ok());
  EXPECT_LT(steady_clock::now() - shutdown_at, milliseconds(1000));
  shutdown.join();
}

TEST_F(CsiServerTest, DestructorShutsDownAndRemovesTheSocket) {
  {
    auto identity = Identity(true, false);
    auto server = StartOrDie(UnixEndpoint(), identity.get());
    ASSERT_NE(server, nullptr);
    ASSERT_TRUE(IsSocket(socket_path_));
  }
  EXPECT_FALSE(fs::exists(socket_path_));
}

TEST_F(CsiServerTest, TcpPortZeroReportsTheBoundPort) {
  const Result<Endpoint> endpoint = ParseEndpoint("tcp://127.0.0.1:0");
  ASSERT_TRUE(endpoint.ok());
  auto identity = Identity(true, false);
  auto server = StartOrDie(*endpoint, identity.get());
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->bound_port(), 0);

  v1::GetPluginInfoResponse info;
  const grpc::Status status =
      CallInfo(*Stub("127.0.0.1:" + std::to_string(server->bound_port())), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.name(), kDriver);

  // The port is not shared with a second server (no SO_REUSEPORT).
  const Result<Endpoint> same_port =
      ParseEndpoint("tcp://127.0.0.1:" + std::to_string(server->bound_port()));
  ASSERT_TRUE(same_port.ok());
  auto other_identity = Identity(false, false);
  Result<std::unique_ptr<CsiServer>> other = CsiServer::Start(*same_port, {other_identity.get()});
  EXPECT_FALSE(other.ok());
}

TEST_F(CsiServerTest, NullServiceIsInvalidArgument) {
  Result<std::unique_ptr<CsiServer>> server = CsiServer::Start(UnixEndpoint(), {nullptr});
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
}

TEST(CsiServerDriverNameTest, AcceptsSpecNames) {
  for (const std::string& name :
       std::vector<std::string>{"nfs.csi.k8s.io", "a", "A1", "x-y.z", std::string(63, 'n')}) {
    EXPECT_TRUE(ValidateDriverName(name).ok()) << ValidateDriverName(name).ToString();
  }
}

TEST(CsiServerDriverNameTest, RejectsNamesOutsideTheSpec) {
  for (const std::string& name :
       std::vector<std::string>{"", std::string(64, 'n'), "-nfs", "nfs-", ".nfs", "nfs.", "nfs csi",
                                "nfs/csi", "nfs_csi", "nfs\xc3\xa9"}) {
    const Status status = ValidateDriverName(name);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_NE(ValidateDriverName(std::string(64, 'n')).message().find("63"), std::string::npos);
  EXPECT_NE(ValidateDriverName("-nfs").message().find("begin and end"), std::string::npos);
  EXPECT_NE(ValidateDriverName("nfs csi").message().find("only letters, digits"),
            std::string::npos);
}

}  // namespace
}  // namespace nfsprov::csi
