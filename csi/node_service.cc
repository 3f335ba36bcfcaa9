#include "csi/node_service.h"

#include "csi/controller_service.h"
#include "csi/serve.h"

namespace nfsprov::csi {
namespace {

using ::csi::v1::NodeServiceCapability;
using ::csi::v1::VolumeCapability;
using ::csi::v1::VolumeUsage;

// The volume context, checked capability first, with the capability's mount_flags (a PV's
// spec.mountOptions, which kubelet passes there) appended to the context's mountOptions.
Result<std::map<std::string, std::string>> MountContext(
    const google::protobuf::Map<std::string, std::string>& volume_context,
    const VolumeCapability& capability, bool has_capability) {
  if (!has_capability) return InvalidArgument("volume_capability is required");
  NFSPROV_RETURN_IF_ERROR(CheckVolumeCapability(capability));
  std::map<std::string, std::string> context(volume_context.begin(), volume_context.end());
  std::string& options = context["mountOptions"];
  for (const std::string& flag : capability.mount().mount_flags())
    options += (options.empty() ? "" : ",") + flag;
  if (options.empty()) context.erase("mountOptions");
  return context;
}

Status RequireId(const std::string& volume_id) {
  return volume_id.empty() ? InvalidArgument("volume_id is required") : Status();
}

void AddUsage(VolumeUsage::Unit unit, int64_t total, int64_t available, int64_t used,
              ::csi::v1::NodeGetVolumeStatsResponse* response) {
  VolumeUsage* usage = response->add_usage();
  usage->set_unit(unit);
  usage->set_total(total);
  usage->set_available(available);
  usage->set_used(used);
}

}  // namespace

grpc::Status NodeService::NodeStageVolume(grpc::ServerContext*,
                                          const ::csi::v1::NodeStageVolumeRequest* request,
                                          ::csi::v1::NodeStageVolumeResponse*) {
  return Serve("NodeStageVolume", request->volume_id(), [&]() -> Status {
    NFSPROV_RETURN_IF_ERROR(RequireId(request->volume_id()));
    Result<std::map<std::string, std::string>> context = MountContext(
        request->volume_context(), request->volume_capability(), request->has_volume_capability());
    if (!context.ok()) return context.status();
    StageArgs args;
    args.volume_id = request->volume_id();
    args.staging_path = request->staging_target_path();
    args.context = *context;
    args.read_only = ReaderOnly(request->volume_capability());
    return node_.Stage(args);
  });
}

grpc::Status NodeService::NodeUnstageVolume(grpc::ServerContext*,
                                            const ::csi::v1::NodeUnstageVolumeRequest* request,
                                            ::csi::v1::NodeUnstageVolumeResponse*) {
  return Serve("NodeUnstageVolume", request->volume_id(), [&]() -> Status {
    NFSPROV_RETURN_IF_ERROR(RequireId(request->volume_id()));
    return node_.Unstage(request->volume_id(), request->staging_target_path());
  });
}

grpc::Status NodeService::NodePublishVolume(grpc::ServerContext*,
                                            const ::csi::v1::NodePublishVolumeRequest* request,
                                            ::csi::v1::NodePublishVolumeResponse*) {
  return Serve("NodePublishVolume", request->volume_id(), [&]() -> Status {
    NFSPROV_RETURN_IF_ERROR(RequireId(request->volume_id()));
    Result<std::map<std::string, std::string>> context = MountContext(
        request->volume_context(), request->volume_capability(), request->has_volume_capability());
    if (!context.ok()) return context.status();
    PublishArgs args;
    args.volume_id = request->volume_id();
    args.staging_path = request->staging_target_path();
    args.target_path = request->target_path();
    args.context = *context;
    args.read_only = request->readonly() || ReaderOnly(request->volume_capability());
    return node_.Publish(args);
  });
}

grpc::Status NodeService::NodeUnpublishVolume(grpc::ServerContext*,
                                              const ::csi::v1::NodeUnpublishVolumeRequest* request,
                                              ::csi::v1::NodeUnpublishVolumeResponse*) {
  return Serve("NodeUnpublishVolume", request->volume_id(), [&]() -> Status {
    NFSPROV_RETURN_IF_ERROR(RequireId(request->volume_id()));
    return node_.Unpublish(request->volume_id(), request->target_path());
  });
}

grpc::Status NodeService::NodeGetVolumeStats(grpc::ServerContext*,
                                             const ::csi::v1::NodeGetVolumeStatsRequest* request,
                                             ::csi::v1::NodeGetVolumeStatsResponse* response) {
  return Serve("NodeGetVolumeStats", request->volume_id(), [&]() -> Status {
    NFSPROV_RETURN_IF_ERROR(RequireId(request->volume_id()));
    Result<NodeVolumeStats> stats = node_.Stats(request->volume_id(), request->volume_path());
    if (!stats.ok()) return stats.status();
    response->mutable_volume_condition()->set_abnormal(stats->abnormal);
    response->mutable_volume_condition()->set_message(stats->abnormal ? stats->message
                                                                       : "volume is healthy");
    if (!stats->has_usage) return Status();
    AddUsage(VolumeUsage::BYTES, stats->bytes_total, stats->bytes_available, stats->bytes_used,
             response);
    AddUsage(VolumeUsage::INODES, stats->inodes_total, stats->inodes_free, stats->inodes_used,
             response);
    return Status();
  });
}

grpc::Status NodeService::NodeGetCapabilities(grpc::ServerContext*,
                                              const ::csi::v1::NodeGetCapabilitiesRequest*,
                                              ::csi::v1::NodeGetCapabilitiesResponse* response) {
  return Serve("NodeGetCapabilities", "", [&]() -> Status {
    for (auto type : {NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME,
                      NodeServiceCapability::RPC::GET_VOLUME_STATS,
                      NodeServiceCapability::RPC::VOLUME_CONDITION,
                      NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER}) {
      response->add_capabilities()->mutable_rpc()->set_type(type);
    }
    return Status();
  });
}

grpc::Status NodeService::NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                                      ::csi::v1::NodeGetInfoResponse* response) {
  return Serve("NodeGetInfo", "", [&]() -> Status {
    response->set_node_id(identity_.node_id);
    response->set_max_volumes_per_node(0);  // NFS directories: no per-node attach limit
    if (!identity_.topology.empty()) {
      for (const auto& [key, value] : identity_.topology)
        (*response->mutable_accessible_topology()->mutable_segments())[key] = value;
    }
    return Status();
  });
}

}  // namespace nfsprov::csi
