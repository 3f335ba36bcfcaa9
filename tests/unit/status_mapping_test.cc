// ToGrpcStatus: every StatusCode maps to its gRPC code, the message travels unchanged.
#include "csi/status_mapping.h"

#include <grpcpp/support/status.h>

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace nfsprov::csi {
namespace {

const std::vector<std::pair<StatusCode, grpc::StatusCode>>& ErrorCodes() {
  static const std::vector<std::pair<StatusCode, grpc::StatusCode>> kCodes{
      {StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
  };
  return kCodes;
}

TEST(StatusMappingTest, OkIsOk) {
  const grpc::Status mapped = ToGrpcStatus(Status());
  EXPECT_TRUE(mapped.ok());
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(mapped.error_message(), "");
}

TEST(StatusMappingTest, EachCodeMapsToItsGrpcCodeWithTheMessage) {
  for (const auto& [code, grpc_code] : ErrorCodes()) {
    const std::string message = "volume pvc-1: " + std::string(StatusCodeName(code));
    const grpc::Status mapped = ToGrpcStatus(Status(code, message, 5));
    EXPECT_EQ(mapped.error_code(), grpc_code) << StatusCodeName(code);
    EXPECT_EQ(mapped.error_message(), message) << StatusCodeName(code);
    EXPECT_EQ(mapped.error_details(), "") << StatusCodeName(code);
  }
}

TEST(StatusMappingTest, CoversEveryErrorCodeWithDistinctGrpcCodes) {
  // The enum is dense from kOk to kOutOfRange; a new code added without a mapping shows up here.
  std::set<grpc::StatusCode> seen;
  const int last = static_cast<int>(StatusCode::kOutOfRange);
  for (int i = static_cast<int>(StatusCode::kOk) + 1; i <= last; ++i) {
    const auto code = static_cast<StatusCode>(i);
    const grpc::Status mapped = ToGrpcStatus(Status(code, "m"));
    EXPECT_FALSE(mapped.ok()) << StatusCodeName(code);
    EXPECT_NE(mapped.error_code(), grpc::StatusCode::UNKNOWN) << StatusCodeName(code);
    seen.insert(mapped.error_code());
  }
  EXPECT_EQ(seen.size(), ErrorCodes().size());
}

TEST(StatusMappingTest, OutOfRangeHasItsName) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOutOfRange), "OUT_OF_RANGE");
  EXPECT_EQ(OutOfRange("need 2 GiB, limit 1 GiB").ToString(),
            "OUT_OF_RANGE: need 2 GiB, limit 1 GiB");
}

}  // namespace
}  // namespace nfsprov::csi
