#include "csi/controller_service.h"

#include "csi/serve.h"

namespace nfsprov::csi {
namespace {

using ::csi::v1::ControllerServiceCapability;
using ::csi::v1::VolumeCapability;

std::map<std::string, std::string> ToMap(const google::protobuf::Map<std::string, std::string>& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

google::protobuf::Timestamp ToTimestamp(int64_t unix_ms) {
  google::protobuf::Timestamp t;
  t.set_seconds(unix_ms / 1000);
  t.set_nanos(static_cast<int32_t>(unix_ms % 1000) * 1000000);
  return t;
}

void FillVolume(const Volume& v, ::csi::v1::Volume* out) {
  out->set_volume_id(v.id);
  out->set_capacity_bytes(v.capacity_bytes);
  for (const auto& [key, value] : v.context) (*out->mutable_volume_context())[key] = value;
  switch (v.source.kind) {
    case ContentSource::Kind::kSnapshot:
      out->mutable_content_source()->mutable_snapshot()->set_snapshot_id(v.source.id);
      break;
    case ContentSource::Kind::kVolume:
      out->mutable_content_source()->mutable_volume()->set_volume_id(v.source.id);
      break;
    case ContentSource::Kind::kNone:
      break;
  }
}

void FillSnapshot(const Snapshot& s, ::csi::v1::Snapshot* out) {
  out->set_snapshot_id(s.id);
  out->set_source_volume_id(s.source_volume_id);
  out->set_size_bytes(s.size_bytes);
  *out->mutable_creation_time() = ToTimestamp(s.created_unix_ms);
  out->set_ready_to_use(s.ready);
}

void FillCondition(const VolumeCondition& c, ::csi::v1::VolumeCondition* out) {
  out->set_abnormal(c.abnormal);
  out->set_message(c.abnormal ? c.message : "volume is healthy");
}

Result<ContentSource> FromProto(const ::csi::v1::CreateVolumeRequest& request) {
  ContentSource source;
  if (!request.has_volume_content_source()) return source;
  const auto& cs = request.volume_content_source();
  if (cs.has_snapshot()) {
    if (cs.snapshot().snapshot_id().empty()) return InvalidArgument("content source snapshot_id is empty");
    return ContentSource{ContentSource::Kind::kSnapshot, cs.snapshot().snapshot_id()};
  }
  if (cs.has_volume()) {
    if (cs.volume().volume_id().empty()) return InvalidArgument("content source volume_id is empty");
    return ContentSource{ContentSource::Kind::kVolume, cs.volume().volume_id()};
  }
  return InvalidArgument("volume_content_source has neither a snapshot nor a volume");
}

}  // namespace

Status CheckVolumeCapability(const VolumeCapability& c) {
  if (c.has_block())
    return InvalidArgument("block volumes are not supported: nfsprov volumes are NFS file systems");
  if (!c.has_mount()) return InvalidArgument("volume capability has no access type (mount)");
  const std::string& fs = c.mount().fs_type();
  if (!fs.empty() && fs != "nfs" && fs != "nfs4")
    return InvalidArgument("fs_type \"" + fs + "\" is not supported; volumes are NFS (leave it empty)");
  if (!c.has_access_mode() || c.access_mode().mode() == VolumeCapability::AccessMode::UNKNOWN)
    return InvalidArgument("volume capability has no access mode");
  return Status();
}

bool ReaderOnly(const VolumeCapability& capability) {
  auto mode = capability.access_mode().mode();
  return mode == VolumeCapability::AccessMode::SINGLE_NODE_READER_ONLY ||
         mode == VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
}

std::string FirstWriterMode(const google::protobuf::RepeatedPtrField<VolumeCapability>& capabilities) {
  for (const VolumeCapability& c : capabilities)
    if (!ReaderOnly(c)) return VolumeCapability::AccessMode::Mode_Name(c.access_mode().mode());
  return "";
}

Status CheckVolumeCapabilities(
    const google::protobuf::RepeatedPtrField<VolumeCapability>& capabilities) {
  if (capabilities.empty()) return InvalidArgument("volume_capabilities are required");
  for (const VolumeCapability& c : capabilities) NFSPROV_RETURN_IF_ERROR(CheckVolumeCapability(c));
  return Status();
}

grpc::ServerUnaryReactor* ControllerService::CreateVolume(grpc::CallbackServerContext*,
                                                          const grpc::ByteBuffer* raw_request,
                                                          grpc::ByteBuffer* raw_response) {
  ::csi::v1::CreateVolumeRequest decoded;
  grpc::ByteBuffer encoded(*raw_request);  // shares the bytes; Deserialize consumes its argument
  const bool parsed =
      grpc::SerializationTraits<::csi::v1::CreateVolumeRequest>::Deserialize(&encoded, &decoded).ok();
  const ::csi::v1::CreateVolumeRequest& request = decoded;
  return ServeAsync("CreateVolume", request.name(), [&](std::function<void(const Status&)> finish) {
    Result<CreateVolumeArgs> args = [&]() -> Result<CreateVolumeArgs> {
      if (!parsed)
        return InvalidArgument("the CreateVolumeRequest cannot be decoded (for example, a string field "
                               "that is not valid UTF-8)");
      if (request.name().empty()) return InvalidArgument("name is required");
      NFSPROV_RETURN_IF_ERROR(CheckVolumeCapabilities(request.volume_capabilities()));
      if (!request.mutable_parameters().empty())
        return InvalidArgument("mutable_parameters are not supported (no ControllerModifyVolume)");
      Result<ContentSource> source = FromProto(request);
      if (!source.ok()) return source.status();
      CreateVolumeArgs made;
      made.name = request.name();
      made.capacity = {request.capacity_range().required_bytes(), request.capacity_range().limit_bytes()};
      made.parameters = ToMap(request.parameters());
      made.source = *source;
      made.writer_access_mode = FirstWriterMode(request.volume_capabilities());
      return made;
    }();
    if (!args.ok()) return finish(args.status());
    controller_.CreateVolume(std::move(args).value(), [raw_response, finish](Result<Volume> volume) {
      if (!volume.ok()) return finish(volume.status());
      ::csi::v1::CreateVolumeResponse response;
      FillVolume(*volume, response.mutable_volume());
      bool own_buffer = false;
      grpc::ByteBuffer encoded_response;
      if (!grpc::SerializationTraits<::csi::v1::CreateVolumeResponse>::Serialize(response, &encoded_response,
                                                                                 &own_buffer)
               .ok())
        return finish(Internal("cannot encode the CreateVolumeResponse of " + volume->id));
      raw_response->Swap(&encoded_response);
      finish(Status());
    });
  });
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext*,
                                             const ::csi::v1::DeleteVolumeRequest* request,
                                             ::csi::v1::DeleteVolumeResponse*) {
  return Serve("DeleteVolume", request->volume_id(), [&]() -> Status {
    if (request->volume_id().empty()) return InvalidArgument("volume_id is required");
    return controller_.DeleteVolume(request->volume_id());
  });
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    grpc::ServerContext*, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
    ::csi::v1::ValidateVolumeCapabilitiesResponse* response) {
  return Serve("ValidateVolumeCapabilities", request->volume_id(), [&]() -> Status {
    if (request->volume_id().empty()) return InvalidArgument("volume_id is required");
    if (request->volume_capabilities().empty()) return InvalidArgument("volume_capabilities are required");
    Result<std::pair<Volume, VolumeCondition>> volume = controller_.GetVolume(request->volume_id());
    if (!volume.ok()) return volume.status();
    Status supported = CheckVolumeCapabilities(request->volume_capabilities());
    const std::string writer = FirstWriterMode(request->volume_capabilities());
    if (supported.ok() && volume->first.context["readOnly"] == "true" && !writer.empty())
      supported = InvalidArgument("volume is read-only (its StorageClass has readOnly: \"true\"); access mode " +
                                  writer + " writes");
    if (!supported.ok()) {
      response->set_message(supported.message());  // not confirmed: say why
      return Status();
    }
    auto* confirmed = response->mutable_confirmed();
    *confirmed->mutable_volume_capabilities() = request->volume_capabilities();
    *confirmed->mutable_volume_context() = request->volume_context();
    *confirmed->mutable_parameters() = request->parameters();
    return Status();
  });
}

grpc::Status ControllerService::ListVolumes(grpc::ServerContext*,
                                            const ::csi::v1::ListVolumesRequest* request,
                                            ::csi::v1::ListVolumesResponse* response) {
  return Serve("ListVolumes", "", [&]() -> Status {
    Result<Page<Volume>> page = controller_.ListVolumes(request->max_entries(), request->starting_token());
    if (!page.ok()) return page.status();
    for (const Volume& v : page->entries) {
      auto* entry = response->add_entries();
      FillVolume(v, entry->mutable_volume());
      bool creating = v.record.state != VolumeState::kReady;
      FillCondition({creating, "volume is still being created"},
                    entry->mutable_status()->mutable_volume_condition());
    }
    response->set_next_token(page->next_token);
    return Status();
  });
}

grpc::Status ControllerService::GetCapacity(grpc::ServerContext*,
                                            const ::csi::v1::GetCapacityRequest* request,
                                            ::csi::v1::GetCapacityResponse* response) {
  return Serve("GetCapacity", "", [&]() -> Status {
    for (const VolumeCapability& c : request->volume_capabilities()) {
      if (c.has_block()) {  // nothing of ours can hold a block volume
        response->set_available_capacity(0);
        return Status();
      }
    }
    Result<int64_t> capacity = controller_.GetCapacity(ToMap(request->parameters()));
    if (!capacity.ok()) return capacity.status();
    response->set_available_capacity(*capacity);
    return Status();
  });
}

grpc::Status ControllerService::ControllerGetCapabilities(
    grpc::ServerContext*, const ::csi::v1::ControllerGetCapabilitiesRequest*,
    ::csi::v1::ControllerGetCapabilitiesResponse* response) {
  for (auto type : {ControllerServiceCapability::RPC::CREATE_DELETE_VOLUME,
                    ControllerServiceCapability::RPC::CREATE_DELETE_SNAPSHOT,
                    ControllerServiceCapability::RPC::CLONE_VOLUME,
                    ControllerServiceCapability::RPC::EXPAND_VOLUME,
                    ControllerServiceCapability::RPC::LIST_VOLUMES,
                    ControllerServiceCapability::RPC::LIST_SNAPSHOTS,
                    ControllerServiceCapability::RPC::GET_CAPACITY,
                    ControllerServiceCapability::RPC::GET_VOLUME,
                    ControllerServiceCapability::RPC::VOLUME_CONDITION,
                    ControllerServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::CreateSnapshot(grpc::ServerContext*,
                                               const ::csi::v1::CreateSnapshotRequest* request,
                                               ::csi::v1::CreateSnapshotResponse* response) {
  return Serve("CreateSnapshot", request->name(), [&]() -> Status {
    if (request->name().empty()) return InvalidArgument("name is required");
    if (request->source_volume_id().empty()) return InvalidArgument("source_volume_id is required");
    Result<Snapshot> snapshot = controller_.CreateSnapshot(request->source_volume_id(), request->name(),
                                                           ToMap(request->parameters()));
    if (!snapshot.ok()) return snapshot.status();
    FillSnapshot(*snapshot, response->mutable_snapshot());
    return Status();
  });
}

grpc::Status ControllerService::DeleteSnapshot(grpc::ServerContext*,
                                               const ::csi::v1::DeleteSnapshotRequest* request,
                                               ::csi::v1::DeleteSnapshotResponse*) {
  return Serve("DeleteSnapshot", request->snapshot_id(), [&]() -> Status {
    if (request->snapshot_id().empty()) return InvalidArgument("snapshot_id is required");
    return controller_.DeleteSnapshot(request->snapshot_id());
  });
}

grpc::Status ControllerService::ListSnapshots(grpc::ServerContext*,
                                              const ::csi::v1::ListSnapshotsRequest* request,
                                              ::csi::v1::ListSnapshotsResponse* response) {
  return Serve("ListSnapshots", request->snapshot_id(), [&]() -> Status {
    Result<Page<Snapshot>> page =
        controller_.ListSnapshots(request->snapshot_id(), request->source_volume_id(),
                                  request->max_entries(), request->starting_token());
    if (!page.ok()) return page.status();
    for (const Snapshot& s : page->entries) FillSnapshot(s, response->add_entries()->mutable_snapshot());
    response->set_next_token(page->next_token);
    return Status();
  });
}

grpc::Status ControllerService::ControllerExpandVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerExpandVolumeRequest* request,
    ::csi::v1::ControllerExpandVolumeResponse* response) {
  return Serve("ControllerExpandVolume", request->volume_id(), [&]() -> Status {
    if (request->volume_id().empty()) return InvalidArgument("volume_id is required");
    if (!request->has_capacity_range()) return InvalidArgument("capacity_range is required");
    if (request->has_volume_capability()) {
      google::protobuf::RepeatedPtrField<VolumeCapability> one;
      *one.Add() = request->volume_capability();
      NFSPROV_RETURN_IF_ERROR(CheckVolumeCapabilities(one));
    }
    Result<int64_t> capacity = controller_.ExpandVolume(
        request->volume_id(),
        {request->capacity_range().required_bytes(), request->capacity_range().limit_bytes()});
    if (!capacity.ok()) return capacity.status();
    response->set_capacity_bytes(*capacity);
    response->set_node_expansion_required(false);  // a directory has nothing to grow on the node
    return Status();
  });
}

grpc::Status ControllerService::ControllerGetVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerGetVolumeRequest* request,
    ::csi::v1::ControllerGetVolumeResponse* response) {
  return Serve("ControllerGetVolume", request->volume_id(), [&]() -> Status {
    if (request->volume_id().empty()) return InvalidArgument("volume_id is required");
    Result<std::pair<Volume, VolumeCondition>> volume = controller_.GetVolume(request->volume_id());
    if (!volume.ok()) return volume.status();
    FillVolume(volume->first, response->mutable_volume());
    FillCondition(volume->second, response->mutable_status()->mutable_volume_condition());
    return Status();
  });
}

}  // namespace nfsprov::csi
