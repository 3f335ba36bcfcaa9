// SessionClient: the client side of lockd's Session stream (lockd.proto): non-queueing Acquire
// and Release calls as messages on one long-lived stream, about half the round trip of a unary
// call over loopback.
//
// Calls run one at a time (callers wait their turn) and each has its own deadline. The stream
// opens with the first call and again after it broke. A failure of the stream itself (lockd
// unreachable or restarted, no answer by the deadline, a lockd without Session) is UNAVAILABLE
// with the reason; the call may or may not have run, so callers fall back to the unary RPC
// (both calls are idempotent by lease ID). A stream that had served calls before and turns out
// broken (lockd restarted in between) is replaced and the call sent once more on the new one.
// Otherwise the status is lockd's answer to the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include <grpcpp/support/status.h>

#include "lockd/lockd.grpc.pb.h"

namespace nfsprov::lockd {

class SessionClient {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SessionClient(std::shared_ptr<v1::Locks::Stub> stub);
  ~SessionClient();

  // request.wait_ms must be 0 (lockd refuses others on a session).
  grpc::Status Acquire(const v1::AcquireRequest& request, v1::AcquireResponse* response,
                       Clock::time_point deadline);
  grpc::Status Release(const v1::ReleaseRequest& request, v1::ReleaseResponse* response,
                       Clock::time_point deadline);

 private:
  class Stream;
  grpc::Status Call(v1::SessionRequest* request, v1::SessionResponse* response,
                    Clock::time_point deadline);

  const std::shared_ptr<v1::Locks::Stub> stub_;
  std::mutex mu_;  // one call at a time; guards the two below
  std::unique_ptr<Stream> stream_;
  uint64_t next_call_id_ = 1;
};

}  // namespace nfsprov::lockd
