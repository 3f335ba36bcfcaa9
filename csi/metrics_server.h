// MetricsServer: the HTTP side of a server subcommand (--metrics-address, docs/metrics.md).
//
//   GET /metrics  the registry's families in the Prometheus text format 0.0.4
//   GET /healthz  200 "ok" while the health set last is OK; 503 and its message otherwise
//                 ("starting" until the first SetHealth). Answers from memory: no I/O per probe.
//
// Start() binds before it returns, so a busy or invalid address is an error naming it and
// nothing serves. Two worker threads, and one request per connection: an idle keep-alive
// connection never holds a worker that a probe needs. Stop() (also run by the destructor)
// closes the listener and joins its thread; it is idempotent.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "common/status.h"

namespace httplib {
class Server;
}

namespace nfsprov::csi {

struct HostPort {
  std::string host;  // "0.0.0.0" for ":PORT"
  int port = 0;
};

// "HOST:PORT", ":PORT" (every IPv4 address) or "[V6]:PORT"; PORT 1..65535.
Result<HostPort> ParseHostPort(const std::string& address);

class MetricsServer {
 public:
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                      const metrics::Registry& registry);
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();

  void SetHealth(Status health);
  void Stop();

 private:
  explicit MetricsServer(std::unique_ptr<httplib::Server> server);

  const std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  Status health_ = Unavailable("starting");  // guarded by mu_
};

}  // namespace nfsprov::csi
