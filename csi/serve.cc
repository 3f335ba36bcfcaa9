#include "csi/serve.h"

#include "common/metrics.h"

namespace nfsprov::csi {

void RecordCall(const char* method, const Status& status,
                std::chrono::steady_clock::duration elapsed) {
  static metrics::Family<metrics::Counter>& requests = metrics::Default().AddCounter(
      "nfsprov_grpc_requests_total", "gRPC calls served, by method and result code",
      {"method", "code"});
  // From 5 ms (a cached lookup) to a minute (a copy or a blocking lock acquire).
  static metrics::Family<metrics::Histogram>& durations = metrics::Default().AddHistogram(
      "nfsprov_grpc_request_duration_seconds", "Time spent serving gRPC calls, by method",
      {"method"}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  // The code ToGrpcStatus maps this status to: the names are the same (status_mapping.h).
  requests.With({method, std::string(StatusCodeName(status.code()))}).Inc();
  durations.With({method}).Observe(std::chrono::duration<double>(elapsed).count());
}

}  // namespace nfsprov::csi
