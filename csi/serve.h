// Serve: the shape of every CSI and lockd handler. Runs the handler body, writes the call's one
// log line (method, volume or snapshot ID, duration, result), counts it in the per-RPC metrics
// (docs/metrics.md), marks the process busy for the idle trimmer (common/idle_trim.h) and maps its
// Status to gRPC once.
#pragma once

#include <chrono>
#include <string>

#include <grpcpp/support/status.h>

#include "common/idle_trim.h"
#include "common/logging.h"
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

}  // namespace nfsprov::csi
