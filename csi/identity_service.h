// The CSI Identity service: who the plugin is, which services it offers, whether it is healthy.
//
// GetPluginInfo returns the driver name and vendor version given at construction (validate the
// name with ValidateDriverName first; kubelet and the sidecars key everything on it).
// GetPluginCapabilities advertises CONTROLLER_SERVICE only when this process runs the controller
// service, and VolumeExpansion ONLINE only when online expansion is on.
// Probe calls `probe` on every request, from gRPC worker threads (so it must be thread-safe and
// quick: livenessprobe gives up after --probe-timeout, 1 s by default). OK answers ready=true; an
// error answers FAILED_PRECONDITION with the reason, which is what CSI prescribes for "plugin not
// healthy" and what makes livenessprobe fail and kubelet restart the container. So `probe` should
// fail only for conditions a restart can cure, not for an unreachable NFS server. An empty
// `probe` means always healthy.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "csi/csi.grpc.pb.h"

namespace nfsprov::csi {

// CSI spec (GetPluginInfoResponse.name): at most 63 characters, beginning and ending with an
// alphanumeric character, with dashes, dots and alphanumerics between. INVALID_ARGUMENT
// otherwise, naming the rule that was broken.
Status ValidateDriverName(std::string_view name);

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  IdentityService(std::string driver_name, std::string version, bool controller_service,
                  bool online_expansion, std::function<nfsprov::Status()> probe);

  grpc::Status GetPluginInfo(grpc::ServerContext* context,
                             const ::csi::v1::GetPluginInfoRequest* request,
                             ::csi::v1::GetPluginInfoResponse* response) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* context,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* request,
                                     ::csi::v1::GetPluginCapabilitiesResponse* response) override;
  grpc::Status Probe(grpc::ServerContext* context, const ::csi::v1::ProbeRequest* request,
                     ::csi::v1::ProbeResponse* response) override;

 private:
  const std::string driver_name_;
  const std::string version_;
  const bool controller_service_;
  const bool online_expansion_;
  const std::function<nfsprov::Status()> probe_;
};

}  // namespace nfsprov::csi
