#include "csi/metrics_server.h"

#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace nfsprov::csi {

Result<HostPort> ParseHostPort(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("metrics address \"" + address + "\": " + why +
                           " (use HOST:PORT, :PORT or [IPV6]:PORT)");
  };
  if (colon == std::string::npos) return bad("no port");
  HostPort out;
  out.host = address.substr(0, colon);
  if (out.host.empty()) {
    out.host = "0.0.0.0";
  } else if (out.host.front() == '[') {
    if (out.host.size() < 3 || out.host.back() != ']') return bad("unbalanced brackets");
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find(':') != std::string::npos) {
    return bad("an IPv6 address needs brackets");
  }
  const std::string port = address.substr(colon + 1);
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || out.port < 1 ||
      out.port > 65535)
    return bad("port must be 1..65535");
  return out;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                            const metrics::Registry& registry) {
  Result<HostPort> where = ParseHostPort(address);
  if (!where.ok()) return where.status();
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->set_keep_alive_max_count(1);
  // httplib's default also sets SO_REUSEPORT, with which a second process binds the same port and
  // takes a share of its connections; a port in use must fail Start instead, as for gRPC.
  server->set_socket_options([](int sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  errno = 0;
  if (!server->bind_to_port(where->host, where->port)) {
    const int err = errno;  // httplib keeps the bind's errno; it may have none
    return Status(StatusCode::kUnavailable,
                  "cannot serve metrics on " + address +
                      (err != 0 ? std::string(": ") + std::strerror(err) : std::string()),
                  err);
  }
  std::unique_ptr<MetricsServer> self(new MetricsServer(std::move(server)));
  MetricsServer* raw = self.get();
  raw->server_->Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.Expose(), "text/plain; version=0.0.4; charset=utf-8");
  });
  raw->server_->Get("/healthz", [raw](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(raw->mu_);
    res.status = raw->health_.ok() ? 200 : 503;
    res.set_content(raw->health_.ok() ? "ok\n" : raw->health_.message() + "\n", "text/plain");
  });
  raw->thread_ = std::thread([raw] {
    NameThisThread("metrics-http");
    // httplib 0.11 sends without MSG_NOSIGNAL, so a client hanging up mid-answer would kill the
    // process with SIGPIPE. Blocked here (the workers, started by this thread, inherit the mask),
    // it stays pending on the thread and the send fails with EPIPE. Other threads keep the default.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    raw->server_->listen_after_bind();
  });
  // stop() only stops a server that is running: Stop() right after Start() must not miss it.
  while (!raw->server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("serving metrics and health on http://{}", address);
  return self;
}

MetricsServer::MetricsServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::SetHealth(Status health) {
  std::lock_guard<std::mutex> lock(mu_);
  health_ = std::move(health);
}

void MetricsServer::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace nfsprov::csi
