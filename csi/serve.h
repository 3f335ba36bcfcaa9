// Serve: the shape of every CSI and lockd handler (ServeAsync: of those that finish later). Runs the handler body, writes the call's one
// log line (method, volume or snapshot ID, duration, result), counts it in the per-RPC metrics
// (docs/metrics.md), marks the process busy for the idle trimmer (common/idle_trim.h) and maps its
// Status to gRPC once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/support/status.h>

#include "common/idle_trim.h"
#include "common/logging.h"
#include "csi/server.h"
#include "csi/status_mapping.h"

namespace nfsprov::csi {

// nfsprov_grpc_requests_total{method,code} and nfsprov_grpc_request_duration_seconds{method}.
void RecordCall(const char* method, const Status& status,
                std::chrono::steady_clock::duration elapsed);

template <typename Body>
grpc::Status Serve(const char* method, const std::string& object_id, Body body) {
  WorkScope work;
  OpLog log(method, object_id);
  Status status = body();
  RecordCall(method, status, log.Done(status));
  return ToGrpcStatus(status);
}

// Serve for a callback method: `body(finish)` starts the work and calls finish(status) exactly
// once, on any thread, after filling the response; the log line, the metrics and the gRPC status
// follow from there. Returns the call's reactor.
template <typename Body>
grpc::ServerUnaryReactor* ServeAsync(const char* method, const std::string& object_id, Body body) {
  auto* reactor = new ServedReactor();
  auto work = std::make_shared<WorkScope>();
  auto log = std::make_shared<OpLog>(method, object_id);
  body([reactor, work, log, method](const Status& status) {
    RecordCall(method, status, log->Done(status));
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace nfsprov::csi
