// A TCP proxy on loopback that behaves like a network link with a fixed latency, for tests and
// benchmarks (this kernel has no netem qdisc, so latency is added in user space).
//
// Contract: listens on a free 127.0.0.1 port and accepts any number of connections; each one is
// connected to 127.0.0.1:target_port and bytes are forwarded both ways in order. A chunk read at
// time t is written at t + one_way_delay (accurate to a few tens of microseconds on an idle
// machine), so a request/reply exchange takes 2 x one_way_delay more than it would directly.
// Throughput is not limited beyond what one thread copying 64 KiB chunks does (GB/s); at most
// 4 MiB per direction are held, then reading pauses. When either side closes, the bytes already
// read from it are still delivered after the delay, and then both sides are closed; on an error
// both are closed at once. The destructor closes every socket and joins the proxy's only thread.
#pragma once

#include <chrono>
#include <memory>

#include "common/status.h"

namespace nfsprov::testing {

class DelayProxy {
 public:
  static Result<std::unique_ptr<DelayProxy>> Start(int target_port,
                                                   std::chrono::microseconds one_way_delay);
  ~DelayProxy();

  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  int port() const;

 private:
  struct Impl;
  explicit DelayProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nfsprov::testing
