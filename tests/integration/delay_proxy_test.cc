// The DelayProxy fixture: an NFS client works through it and pays its delay; bytes go through in
// order and a close reaches both sides; nothing leaks.
#include "tests/support/delay_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "nfs/client.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::unique_ptr<DelayProxy> StartProxy(int target_port, microseconds one_way) {
  auto proxy = DelayProxy::Start(target_port, one_way);
  EXPECT_TRUE(proxy.ok()) << proxy.status().ToString();
  return proxy.ok() ? std::move(proxy).value() : nullptr;
}

std::unique_ptr<nfs::Client> ConnectNfs(int port) {
  auto client =
      nfs::Client::Connect("nfs://127.0.0.1/export?version=4&nfsport=" + std::to_string(port));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

// Time for `n` sequential Stat calls, each one round trip.
Clock::duration TimeStats(nfs::Client& client, const std::string& path, int n) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) EXPECT_TRUE(client.Stat(path).ok());
  return Clock::now() - start;
}

TEST(DelayProxyTest, NfsClientWorksThroughItAndEveryRoundTripPaysTwiceTheDelay) {
  constexpr microseconds kOneWay{2000};
  constexpr int kCalls = 20;
  auto server = GaneshaServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto proxy = StartProxy((*server)->port(), kOneWay);
  ASSERT_NE(proxy, nullptr);
  auto delayed = ConnectNfs(proxy->port());
  auto direct = ConnectNfs((*server)->port());
  ASSERT_NE(delayed, nullptr);
  ASSERT_NE(direct, nullptr);

  ASSERT_TRUE(delayed->Mkdir("/through-proxy", 0755).ok());
  EXPECT_TRUE(std::filesystem::is_directory((*server)->export_dir() + "/through-proxy"));
  auto attr = delayed->Stat("/through-proxy");
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  EXPECT_EQ(attr->type, nfs::FileType::kDirectory);

  Clock::duration with_delay = TimeStats(*delayed, "/through-proxy", kCalls);
  Clock::duration without = TimeStats(*direct, "/through-proxy", kCalls);
  // Only lower bounds: how much slower a loaded (or sanitised) machine is decides nothing here.
  EXPECT_GE(with_delay, kCalls * 2 * kOneWay);
  EXPECT_GE(with_delay - without, kCalls * kOneWay) << "the delay must come from the proxy";
}

int CountEntries(const char* dir) {
  auto it = std::filesystem::directory_iterator(dir);
  return static_cast<int>(std::distance(begin(it), end(it)));
}

int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), len), 0);
  EXPECT_EQ(listen(fd, 1), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  for (std::size_t sent = 0; sent < data.size();) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads `size` bytes, or until EOF, an error or 5 s without data.
std::string Receive(int fd, std::size_t size) {
  std::string out;
  char buf[65536];
  while (out.size() < size) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    ssize_t n = recv(fd, buf, std::min(sizeof buf, size - out.size()), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// True when `fd` reaches EOF within 5 s, echoing what it receives until then when `echo` is set.
bool WaitForClose(int fd, bool echo) {
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return n == 0;
    if (echo && !SendAll(fd, std::string(buf, static_cast<std::size_t>(n)))) return false;
  }
}

// Time for `n` sequential echoed round trips.
Clock::duration TimePings(int fd, int n) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(SendAll(fd, "ping"));
    EXPECT_EQ(Receive(fd, 4), "ping");
  }
  return Clock::now() - start;
}

// Echoes one connection on a free loopback port until the peer closes it.
class EchoServer {
 public:
  EchoServer() : listen_fd_(Listen(&port_)) {
    closed_ = std::async(std::launch::async, [this] {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return false;
      bool closed = WaitForClose(fd, /*echo=*/true);
      close(fd);
      return closed;
    });
  }
  ~EchoServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept() if nobody connected
    if (closed_.valid()) closed_.wait();
    close(listen_fd_);
  }
  int port() const { return port_; }
  // True once the echoed connection was closed by its peer.
  bool SawClose() { return closed_.get(); }

 private:
  int port_ = 0;
  int listen_fd_;
  std::future<bool> closed_;
};

TEST(DelayProxyTest, ForwardsBytesInOrderClosesBothSidesAndLeaksNothing) {
  constexpr microseconds kOneWay{1000};
  const int fds_before = CountEntries("/proc/self/fd");
  const int threads_before = CountEntries("/proc/self/task");
  {
    EchoServer echo;
    auto proxy = StartProxy(echo.port(), kOneWay);
    ASSERT_NE(proxy, nullptr);
    int fd = ConnectTo(proxy->port());

    ASSERT_TRUE(SendAll(fd, "ping"));
    EXPECT_EQ(Receive(fd, 4), "ping");
    EXPECT_GE(TimePings(fd, 5), 5 * 2 * kOneWay);  // timed once connected: setup takes ~1 ms

    std::string data(8 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 251);
    auto sender = std::async(std::launch::async, [&] { return SendAll(fd, data); });
    EXPECT_TRUE(Receive(fd, data.size()) == data) << "bytes lost or reordered";
    EXPECT_TRUE(sender.get());

    shutdown(fd, SHUT_WR);
    EXPECT_TRUE(echo.SawClose()) << "the proxy did not close the server side";
    EXPECT_TRUE(WaitForClose(fd, /*echo=*/false)) << "the proxy did not close the client side";
    close(fd);
  }
  // A finished thread (std::async's) can take a moment to leave /proc: let counts settle.
  auto settled = [](const char* dir, int expected) {
    for (int i = 0; i < 200 && CountEntries(dir) != expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return CountEntries(dir);
  };
  EXPECT_EQ(settled("/proc/self/fd", fds_before), fds_before);
  EXPECT_EQ(settled("/proc/self/task", threads_before), threads_before);
}

}  // namespace
}  // namespace nfsprov::testing
