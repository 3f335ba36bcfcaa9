// The one place where an nfsprov::Status becomes a gRPC status.
//
// Every CSI handler returns ToGrpcStatus(result) and nothing else, so each StatusCode has exactly
// one gRPC code (the names match: kNotFound -> NOT_FOUND, kOutOfRange -> OUT_OF_RANGE, ...) and
// the status message travels unchanged. An OK status maps to grpc::Status::OK; its message, if
// any, is dropped because gRPC does not carry one on success.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace nfsprov::csi {

grpc::Status ToGrpcStatus(const nfsprov::Status& status);

}  // namespace nfsprov::csi
