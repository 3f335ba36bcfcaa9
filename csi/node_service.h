// NodeService: CSI's Node service over provisioner::Node.
//
// The CSI boundary for the node plugin: checks what CSI requires of requests (IDs and paths
// present, one supported volume capability), converts protobuf to domain types, maps Status to
// gRPC once and logs one line per call. Capabilities advertised are exactly those implemented:
// STAGE_UNSTAGE_VOLUME, GET_VOLUME_STATS, VOLUME_CONDITION, SINGLE_NODE_MULTI_WRITER.
// NodeExpandVolume is UNIMPLEMENTED: the controller expands (node_expansion_required=false).
// The access modes that only read (SINGLE_NODE_READER_ONLY, MULTI_NODE_READER_ONLY) mount
// read-only; the capability's mount_flags (a PV's mountOptions) join the context's mountOptions.
// NodeGetVolumeStats reports usage with every condition but a dead mount's (an over-quota volume
// is abnormal and still has numbers).
#pragma once

#include <map>
#include <string>

#include "csi/csi.grpc.pb.h"
#include "provisioner/node.h"

namespace nfsprov::csi {

struct NodeIdentity {
  std::string node_id;
  std::map<std::string, std::string> topology;  // empty: no accessible_topology
};

class NodeService final : public ::csi::v1::Node::Service {
 public:
  NodeService(Node& node, NodeIdentity identity) : node_(node), identity_(std::move(identity)) {}

  grpc::Status NodeStageVolume(grpc::ServerContext*, const ::csi::v1::NodeStageVolumeRequest*,
                               ::csi::v1::NodeStageVolumeResponse*) override;
  grpc::Status NodeUnstageVolume(grpc::ServerContext*, const ::csi::v1::NodeUnstageVolumeRequest*,
                                 ::csi::v1::NodeUnstageVolumeResponse*) override;
  grpc::Status NodePublishVolume(grpc::ServerContext*, const ::csi::v1::NodePublishVolumeRequest*,
                                 ::csi::v1::NodePublishVolumeResponse*) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest*,
                                   ::csi::v1::NodeUnpublishVolumeResponse*) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext*, const ::csi::v1::NodeGetVolumeStatsRequest*,
                                  ::csi::v1::NodeGetVolumeStatsResponse*) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest*,
                                   ::csi::v1::NodeGetCapabilitiesResponse*) override;
  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                           ::csi::v1::NodeGetInfoResponse*) override;

 private:
  Node& node_;
  NodeIdentity identity_;
};

}  // namespace nfsprov::csi
