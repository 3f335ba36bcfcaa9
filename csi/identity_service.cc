#include "csi/identity_service.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <utility>

#include "csi/serve.h"
#include "csi/status_mapping.h"

namespace nfsprov::csi {

namespace {

namespace v1 = ::csi::v1;

constexpr std::size_t kMaxDriverName = 63;

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

Status ValidateDriverName(std::string_view name) {
  const std::string quoted = "driver name \"" + std::string(name) + "\"";
  if (name.empty()) return InvalidArgument("the driver name is empty");
  if (name.size() > kMaxDriverName) {
    return InvalidArgument(quoted + " is longer than " + std::to_string(kMaxDriverName) +
                           " characters");
  }
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) {
    return InvalidArgument(quoted + " must begin and end with a letter or digit");
  }
  for (const char c : name) {
    if (!IsAlnum(c) && c != '-' && c != '.') {
      return InvalidArgument(quoted + " may contain only letters, digits, '-' and '.'");
    }
  }
  return {};
}

IdentityService::IdentityService(std::string driver_name, std::string version,
                                 bool controller_service, bool online_expansion,
                                 std::function<nfsprov::Status()> probe)
    : driver_name_(std::move(driver_name)),
      version_(std::move(version)),
      controller_service_(controller_service),
      online_expansion_(online_expansion),
      probe_(std::move(probe)) {}

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext* /*context*/,
                                            const v1::GetPluginInfoRequest* /*request*/,
                                            v1::GetPluginInfoResponse* response) {
  response->set_name(driver_name_);
  response->set_vendor_version(version_);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetPluginCapabilities(
    grpc::ServerContext* /*context*/, const v1::GetPluginCapabilitiesRequest* /*request*/,
    v1::GetPluginCapabilitiesResponse* response) {
  if (controller_service_) {
    response->add_capabilities()->mutable_service()->set_type(
        v1::PluginCapability::Service::CONTROLLER_SERVICE);
  }
  if (online_expansion_) {
    response->add_capabilities()->mutable_volume_expansion()->set_type(
        v1::PluginCapability::VolumeExpansion::ONLINE);
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::Probe(grpc::ServerContext* /*context*/,
                                    const v1::ProbeRequest* /*request*/,
                                    v1::ProbeResponse* response) {
  // Counted but not logged when healthy: livenessprobe calls it every few seconds.
  const auto start = std::chrono::steady_clock::now();
  const Status health = probe_ ? probe_() : Status();
  const Status answer = health.ok() ? health : FailedPrecondition("plugin not healthy: " + health.ToString());
  RecordCall("Probe", answer, std::chrono::steady_clock::now() - start);
  if (!health.ok()) {
    // Logged because this answer gets the container restarted; the log must say why.
    spdlog::warn("Probe: not healthy: {}", health.ToString());
    return ToGrpcStatus(answer);
  }
  response->mutable_ready()->set_value(true);
  return grpc::Status::OK;
}

}  // namespace nfsprov::csi
