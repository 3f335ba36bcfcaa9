// ControllerService: CSI's Controller service over provisioner::Controller.
//
// This is the CSI boundary: it checks what CSI requires of requests (required fields, supported
// capabilities), converts protobuf to domain types and back, maps Status to gRPC once
// (status_mapping.h), and logs one line per call with the volume or snapshot ID, duration and
// result. Capabilities advertised are exactly those implemented: CREATE_DELETE_VOLUME,
// CREATE_DELETE_SNAPSHOT, CLONE_VOLUME, EXPAND_VOLUME, LIST_VOLUMES, LIST_SNAPSHOTS,
// GET_CAPACITY, GET_VOLUME, VOLUME_CONDITION, SINGLE_NODE_MULTI_WRITER. There is nothing to
// attach, so ControllerPublish/Unpublish are UNIMPLEMENTED, as is ControllerModifyVolume.
// Block volumes are refused with INVALID_ARGUMENT.
#pragma once

#include "csi/csi.grpc.pb.h"
#include "provisioner/controller.h"

namespace nfsprov::csi {

// CreateVolume is a callback method: its common case finishes from the NFS reply without a
// handler thread waiting for it (Controller::CreateVolume with `done`). It takes the raw message so
// that a request protobuf cannot parse is INVALID_ARGUMENT (gRPC's callback API would answer
// UNIMPLEMENTED, as if the method did not exist).
class ControllerService final
    : public ::csi::v1::Controller::WithRawCallbackMethod_CreateVolume<::csi::v1::Controller::Service> {
 public:
  explicit ControllerService(Controller& controller) : controller_(controller) {}

  grpc::ServerUnaryReactor* CreateVolume(grpc::CallbackServerContext*, const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::Status DeleteVolume(grpc::ServerContext*, const ::csi::v1::DeleteVolumeRequest*,
                            ::csi::v1::DeleteVolumeResponse*) override;
  grpc::Status ValidateVolumeCapabilities(grpc::ServerContext*,
                                          const ::csi::v1::ValidateVolumeCapabilitiesRequest*,
                                          ::csi::v1::ValidateVolumeCapabilitiesResponse*) override;
  grpc::Status ListVolumes(grpc::ServerContext*, const ::csi::v1::ListVolumesRequest*,
                           ::csi::v1::ListVolumesResponse*) override;
  grpc::Status GetCapacity(grpc::ServerContext*, const ::csi::v1::GetCapacityRequest*,
                           ::csi::v1::GetCapacityResponse*) override;
  grpc::Status ControllerGetCapabilities(grpc::ServerContext*,
                                         const ::csi::v1::ControllerGetCapabilitiesRequest*,
                                         ::csi::v1::ControllerGetCapabilitiesResponse*) override;
  grpc::Status CreateSnapshot(grpc::ServerContext*, const ::csi::v1::CreateSnapshotRequest*,
                              ::csi::v1::CreateSnapshotResponse*) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext*, const ::csi::v1::DeleteSnapshotRequest*,
                              ::csi::v1::DeleteSnapshotResponse*) override;
  grpc::Status ListSnapshots(grpc::ServerContext*, const ::csi::v1::ListSnapshotsRequest*,
                             ::csi::v1::ListSnapshotsResponse*) override;
  grpc::Status ControllerExpandVolume(grpc::ServerContext*,
                                      const ::csi::v1::ControllerExpandVolumeRequest*,
                                      ::csi::v1::ControllerExpandVolumeResponse*) override;
  grpc::Status ControllerGetVolume(grpc::ServerContext*, const ::csi::v1::ControllerGetVolumeRequest*,
                                   ::csi::v1::ControllerGetVolumeResponse*) override;

 private:
  Controller& controller_;
};

// Checks volume capabilities as CSI asks (at least one; access mode set; mount access type only).
// The single form is the node service's: NodeStage/NodePublish get one capability.
Status CheckVolumeCapabilities(
    const google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>& capabilities);
Status CheckVolumeCapability(const ::csi::v1::VolumeCapability& capability);
// SINGLE_NODE_READER_ONLY or MULTI_NODE_READER_ONLY: the volume is only read.
bool ReaderOnly(const ::csi::v1::VolumeCapability& capability);
// The name of the first access mode that writes, "" when every one is reader-only.
std::string FirstWriterMode(const google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>& capabilities);

}  // namespace nfsprov::csi
