#include "tests/support/delay_proxy.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace nfsprov::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBytes = 64 * 1024;
constexpr std::size_t kMaxQueuedBytes = 4 << 20;

Status Errno(const std::string& what) {
  int err = errno;
  return Status::FromErrno(err, "delay proxy: " + what + ": " + std::strerror(err));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Without it, small replies would wait for the peer's delayed ACK (Nagle) on top of our delay.
void NoDelay(const Fd& fd) {
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Result<Fd> ConnectLoopback(int port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Errno("socket");
  sockaddr_in addr = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Errno("connect to port " + std::to_string(port));
  if (fcntl(fd.get(), F_SETFL, O_NONBLOCK) != 0) return Errno("fcntl");
  NoDelay(fd);
  return fd;
}

// Bytes read from one socket and not yet written to the other, each chunk with its due time.
class Direction {
 public:
  Direction(int from, int to) : from_(from), to_(to) {}

  short ReadEvents() const { return !eof_ && queued_ < kMaxQueuedBytes ? POLLIN : 0; }
  short WriteEvents() const { return blocked_ ? POLLOUT : 0; }
  void Unblock() { blocked_ = false; }
  // The source closed and everything it sent has been delivered.
  bool Finished() const { return eof_ && chunks_.empty(); }

  std::optional<Clock::time_point> NextDue() const {
    if (blocked_ || chunks_.empty()) return std::nullopt;
    return chunks_.front().due;
  }

  // Reads what is available; false when the connection failed.
  bool Read(Clock::duration delay) {
    char buf[kReadBytes];
    while (ReadEvents() != 0) {
      ssize_t n = recv(from_, buf, sizeof buf, 0);
      if (n == 0) eof_ = true;
      if (n <= 0) return n == 0 || errno == EAGAIN || errno == EINTR;
      chunks_.push_back({Clock::now() + delay, std::string(buf, static_cast<std::size_t>(n))});
      queued_ += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < sizeof buf) return true;  // drained: spare a recv
    }
    return true;
  }

  // Writes the chunks due by `now`; false when the connection failed.
  bool Flush(Clock::time_point now) {
    while (!blocked_ && !chunks_.empty() && chunks_.front().due <= now) {
      Chunk& c = chunks_.front();
      ssize_t n = send(to_, c.bytes.data() + c.written, c.bytes.size() - c.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) return false;
        blocked_ = errno == EAGAIN;
        continue;
      }
      c.written += static_cast<std::size_t>(n);
      queued_ -= static_cast<std::size_t>(n);
      if (c.written == c.bytes.size()) chunks_.pop_front();
    }
    return true;
  }

 private:
  struct Chunk {
    Clock::time_point due;
    std::string bytes;
    std::size_t written = 0;
  };
  const int from_, to_;
  std::deque<Chunk> chunks_;
  std::size_t queued_ = 0;
  bool eof_ = false;
  bool blocked_ = false;  // `to_` is full: wait until it is writable
};

struct Connection {
  Connection(Fd c, Fd s)
      : client(std::move(c)), server(std::move(s)), up(client.get(), server.get()),
        down(server.get(), client.get()) {}
  Fd client, server;
  Direction up, down;  // client → server, server → client
};

pollfd Watch(const Fd& fd, int events) {
  return {events != 0 ? fd.get() : -1, static_cast<short>(events), 0};  // -1: not polled
}

}  // namespace

struct DelayProxy::Impl {
  Impl(int target, Clock::duration one_way) : target_port(target), delay(one_way) {}

  ~Impl() {
    if (!thread.joinable()) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake.get(), &one, sizeof one);  // cannot fail for 1
    thread.join();
  }

  void Run() {
    prctl(PR_SET_TIMERSLACK, 1UL);  // the default 50 µs slack would skew every delay
    std::vector<pollfd> fds;
    for (;;) {
      fds = {{wake.get(), POLLIN, 0}, {listener.get(), POLLIN, 0}};
      for (Connection& c : connections) {
        fds.push_back(Watch(c.client, c.up.ReadEvents() | c.down.WriteEvents()));
        fds.push_back(Watch(c.server, c.down.ReadEvents() | c.up.WriteEvents()));
      }
      timespec ts;
      if (ppoll(fds.data(), fds.size(), Timeout(&ts), nullptr) < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) return;
      std::size_t i = 2;
      for (auto it = connections.begin(); it != connections.end(); i += 2)
        it = Serve(*it, fds[i].revents, fds[i + 1].revents) ? std::next(it) : connections.erase(it);
      if (fds[1].revents != 0) AcceptAll();
    }
  }

  // Until the earliest chunk is due; nullptr (forever) when nothing is waiting for time.
  timespec* Timeout(timespec* ts) const {
    std::optional<Clock::time_point> next;
    for (const Connection& c : connections) {
      for (const Direction* d : {&c.up, &c.down}) {
        std::optional<Clock::time_point> due = d->NextDue();
        if (due && (!next || *due < *next)) next = due;
      }
    }
    if (!next) return nullptr;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::max(*next - Clock::now(), Clock::duration::zero()));
    ts->tv_sec = left.count() / 1'000'000'000;
    ts->tv_nsec = left.count() % 1'000'000'000;
    return ts;
  }

  // Moves one connection's bytes; false when it is over (closed or failed).
  bool Serve(Connection& c, short client_events, short server_events) {
    if (!OnEvents(c.up, c.down, client_events) || !OnEvents(c.down, c.up, server_events))
      return false;
    Clock::time_point now = Clock::now();
    return c.up.Flush(now) && c.down.Flush(now) && !c.up.Finished() && !c.down.Finished();
  }

  // Events of the socket that `in` reads from and `out` writes to.
  bool OnEvents(Direction& in, Direction& out, short revents) {
    if ((revents & POLLERR) != 0) return false;
    if ((revents & (POLLOUT | POLLHUP)) != 0) out.Unblock();
    return (revents & (POLLIN | POLLHUP)) == 0 || in.Read(delay);
  }

  void AcceptAll() {
    for (;;) {
      Fd client(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (client.get() < 0) return;
      Result<Fd> server = ConnectLoopback(target_port);
      if (!server.ok()) continue;  // the client sees a closed connection, as if refused
      NoDelay(client);
      connections.emplace_back(std::move(client), std::move(server).value());
    }
  }

  const int target_port;
  const Clock::duration delay;
  int port = 0;
  Fd listener, wake;
  std::list<Connection> connections;  // proxy thread only
  std::thread thread;
};

Result<std::unique_ptr<DelayProxy>> DelayProxy::Start(int target_port,
                                                      std::chrono::microseconds one_way_delay) {
  auto impl = std::make_unique<Impl>(target_port, one_way_delay);
  impl->listener = Fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (impl->listener.get() < 0) return Errno("socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  if (bind(impl->listener.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0)
    return Errno("bind");
  if (listen(impl->listener.get(), SOMAXCONN) != 0) return Errno("listen");
  if (getsockname(impl->listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Errno("getsockname");
  impl->port = ntohs(addr.sin_port);
  impl->wake = Fd(eventfd(0, EFD_CLOEXEC));
  if (impl->wake.get() < 0) return Errno("eventfd");
  impl->thread = std::thread([p = impl.get()] { p->Run(); });
  return std::unique_ptr<DelayProxy>(new DelayProxy(std::move(impl)));
}

DelayProxy::DelayProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DelayProxy::~DelayProxy() = default;

int DelayProxy::port() const { return impl_->port; }

}  // namespace nfsprov::testing
