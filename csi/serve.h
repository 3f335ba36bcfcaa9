// Serve: the shape of every CSI handler. Runs the handler body, writes the call's one log line
// (method, volume or snapshot ID, duration, result) and maps its Status to gRPC once.
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "common/logging.h"
#include "csi/status_mapping.h"

namespace nfsprov::csi {

template <typename Body>
grpc::Status Serve(const char* method, const std::string& object_id, Body body) {
  OpLog log(method, object_id);
  Status status = body();
  log.Done(status);
  return ToGrpcStatus(status);
}

}  // namespace nfsprov::csi
