// Wire-format conformance of csi/csi.proto against CSI spec v1.9.0.
//
// Every check here is phrased in raw protobuf bytes built by a tiny local
// encoder (tag = field << 3 | wire type), never by round-tripping through the
// generated code alone: a wrong field number in csi.proto makes the parsed
// field land in the unknown-field set (caught by ExpectFullyKnown) or makes
// the serialized bytes differ from the hand-encoded ones.

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "csi/csi.grpc.pb.h"
#include "csi/csi.pb.h"

namespace {

namespace pb = google::protobuf;

// ---------------------------------------------------------------------------
// Minimal protobuf encoder.
// ---------------------------------------------------------------------------
namespace wire {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

std::string Varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Tag(std::uint32_t field, WireType type) {
  return Varint((std::uint64_t{field} << 3) | type);
}

// int32 / int64 / uint* / bool / enum with a non-negative value.
std::string VarintField(std::uint32_t field, std::uint64_t value) {
  return Tag(field, kVarint) + Varint(value);
}

// string / bytes / embedded message.
std::string LenField(std::uint32_t field, std::string_view payload) {
  return Tag(field, kLen) + Varint(payload.size()) + std::string(payload);
}

// One map<string, string> entry: an embedded message {1: key, 2: value}.
std::string MapEntry(std::uint32_t field, std::string_view key, std::string_view value) {
  return LenField(field, LenField(1, key) + LenField(2, value));
}

}  // namespace wire

using wire::LenField;
using wire::MapEntry;
using wire::VarintField;

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

// Paths of every (sub)message that carries unknown fields.
void CollectUnknown(const pb::Message& msg, const std::string& path,
                    std::vector<std::string>* out) {
  const pb::Reflection* refl = msg.GetReflection();
  if (!refl->GetUnknownFields(msg).empty()) out->push_back(path);
  std::vector<const pb::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i) {
        CollectUnknown(refl->GetRepeatedMessage(msg, f, i),
                       path + "." + f->name() + "[" + std::to_string(i) + "]", out);
      }
    } else {
      CollectUnknown(refl->GetMessage(msg, f), path + "." + f->name(), out);
    }
  }
}

void ExpectFullyKnown(const pb::Message& msg) {
  std::vector<std::string> unknown;
  CollectUnknown(msg, msg.GetDescriptor()->name(), &unknown);
  EXPECT_TRUE(unknown.empty()) << "unknown (mis-numbered?) fields in: " << [&] {
    std::string s;
    for (const auto& p : unknown) s += p + " ";
    return s;
  }();
}

template <class M>
M Parse(const std::string& bytes) {
  M msg;
  EXPECT_TRUE(msg.ParseFromString(bytes)) << M::descriptor()->full_name();
  ExpectFullyKnown(msg);
  return msg;
}

// Deterministic serialization (map entries sorted by key) so the bytes can be
// compared with a hand-encoded expectation.
std::string Serialize(const pb::Message& msg) {
  std::string out;
  {
    pb::io::StringOutputStream sink(&out);
    pb::io::CodedOutputStream coded(&sink);
    coded.SetSerializationDeterministic(true);
    EXPECT_TRUE(msg.SerializeToCodedStream(&coded));
  }
  return out;
}

// Printable form of a byte string for failure messages.
std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
    out.push_back(' ');
  }
  return out;
}

#define EXPECT_BYTES_EQ(actual, expected)                                    \
  do {                                                                       \
    const std::string csi_wire_actual_ = (actual);                           \
    const std::string csi_wire_expected_ = (expected);                       \
    EXPECT_EQ(csi_wire_actual_, csi_wire_expected_)                          \
        << "actual:   " << Hex(csi_wire_actual_) << "\nexpected: "           \
        << Hex(csi_wire_expected_);                                          \
  } while (0)

// Reusable encodings.
std::string MountCapabilityBytes() {
  // VolumeCapability{ mount(2){fs_type=1, mount_flags=2 x2, volume_mount_group=3},
  //                   access_mode(3){mode=1: MULTI_NODE_MULTI_WRITER(5)} }
  return LenField(2, LenField(1, "nfs") + LenField(2, "hard") + LenField(2, "nfsvers=4.1") +
                         LenField(3, "2000")) +
         LenField(3, VarintField(1, 5));
}

std::string BlockCapabilityBytes() {
  // VolumeCapability{ block(1){}, access_mode(3){mode=SINGLE_NODE_WRITER(1)} }
  return LenField(1, "") + LenField(3, VarintField(1, 1));
}

void ExpectMountCapability(const csi::v1::VolumeCapability& cap) {
  ASSERT_TRUE(cap.has_mount());
  EXPECT_FALSE(cap.has_block());
  EXPECT_EQ(cap.mount().fs_type(), "nfs");
  ASSERT_EQ(cap.mount().mount_flags_size(), 2);
  EXPECT_EQ(cap.mount().mount_flags(0), "hard");
  EXPECT_EQ(cap.mount().mount_flags(1), "nfsvers=4.1");
  EXPECT_EQ(cap.mount().volume_mount_group(), "2000");
  EXPECT_EQ(cap.access_mode().mode(), csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
}

void FillMountCapability(csi::v1::VolumeCapability* cap) {
  auto* mount = cap->mutable_mount();
  mount->set_fs_type("nfs");
  mount->add_mount_flags("hard");
  mount->add_mount_flags("nfsvers=4.1");
  mount->set_volume_mount_group("2000");
  cap->mutable_access_mode()->set_mode(csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
}

// Topology{segments(1): {"topology.nfsprov/zone": "z1"}}
std::string TopologyBytes(std::string_view zone) {
  return MapEntry(1, "topology.nfsprov/zone", zone);
}

// ---------------------------------------------------------------------------
// The encoder itself, against literal bytes from the protobuf encoding guide.
// ---------------------------------------------------------------------------

TEST(CsiWire, EncoderMatchesLiteralBytes) {
  EXPECT_BYTES_EQ(wire::Varint(1), std::string("\x01", 1));
  EXPECT_BYTES_EQ(wire::Varint(150), std::string("\x96\x01", 2));
  EXPECT_BYTES_EQ(wire::Varint(300), std::string("\xac\x02", 2));
  EXPECT_BYTES_EQ(VarintField(1, 150), std::string("\x08\x96\x01", 3));
  EXPECT_BYTES_EQ(LenField(2, "testing"), std::string("\x12\x07testing", 9));
  // Field 8, length-delimited: (8 << 3) | 2 = 0x42.
  EXPECT_BYTES_EQ(wire::Tag(8, wire::kLen), std::string("\x42", 1));
  // Extension 1059 as a varint field: (1059 << 3) = 8472 = 0x98 0x42.
  EXPECT_BYTES_EQ(VarintField(1059, 1), std::string("\x98\x42\x01", 3));
}

// ---------------------------------------------------------------------------
// Controller: CreateVolume.
// ---------------------------------------------------------------------------

std::string CreateVolumeRequestBytes() {
  return LenField(1, "pvc-1234") +                                            // name
         LenField(2, VarintField(1, 1 << 30) + VarintField(2, 1LL << 31)) +  // capacity_range
         LenField(3, MountCapabilityBytes()) +                                // volume_capabilities[0]
         LenField(3, BlockCapabilityBytes()) +                                // volume_capabilities[1]
         MapEntry(4, "server", "10.0.0.1") +                                  // parameters
         MapEntry(4, "share", "/export") +                                    //
         MapEntry(5, "password", "hunter2") +                                 // secrets
         LenField(6, LenField(1, LenField(1, "snap-1"))) +                    // content source: snapshot
         LenField(7, LenField(1, TopologyBytes("z1")) +                       // accessibility: requisite
                         LenField(2, TopologyBytes("z2"))) +                  //                preferred
         MapEntry(8, "iops", "100");                                          // mutable_parameters
}

TEST(CsiWire, CreateVolumeRequestParsesAllEightFields) {
  const auto req = Parse<csi::v1::CreateVolumeRequest>(CreateVolumeRequestBytes());
  EXPECT_EQ(req.name(), "pvc-1234");
  EXPECT_EQ(req.capacity_range().required_bytes(), 1 << 30);
  EXPECT_EQ(req.capacity_range().limit_bytes(), 1LL << 31);
  ASSERT_EQ(req.volume_capabilities_size(), 2);
  ExpectMountCapability(req.volume_capabilities(0));
  EXPECT_TRUE(req.volume_capabilities(1).has_block());
  EXPECT_EQ(req.volume_capabilities(1).access_mode().mode(),
            csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  ASSERT_EQ(req.parameters_size(), 2);
  EXPECT_EQ(req.parameters().at("server"), "10.0.0.1");
  EXPECT_EQ(req.parameters().at("share"), "/export");
  ASSERT_EQ(req.secrets_size(), 1);
  EXPECT_EQ(req.secrets().at("password"), "hunter2");
  ASSERT_TRUE(req.volume_content_source().has_snapshot());
  EXPECT_EQ(req.volume_content_source().snapshot().snapshot_id(), "snap-1");
  ASSERT_EQ(req.accessibility_requirements().requisite_size(), 1);
  EXPECT_EQ(req.accessibility_requirements().requisite(0).segments().at("topology.nfsprov/zone"), "z1");
  ASSERT_EQ(req.accessibility_requirements().preferred_size(), 1);
  EXPECT_EQ(req.accessibility_requirements().preferred(0).segments().at("topology.nfsprov/zone"), "z2");
  ASSERT_EQ(req.mutable_parameters_size(), 1);
  EXPECT_EQ(req.mutable_parameters().at("iops"), "100");
}

TEST(CsiWire, CreateVolumeRequestSerializesToSpecBytes) {
  csi::v1::CreateVolumeRequest req;
  req.set_name("pvc-1234");
  req.mutable_capacity_range()->set_required_bytes(1 << 30);
  req.mutable_capacity_range()->set_limit_bytes(1LL << 31);
  FillMountCapability(req.add_volume_capabilities());
  auto* block = req.add_volume_capabilities();
  block->mutable_block();
  block->mutable_access_mode()->set_mode(csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  (*req.mutable_parameters())["share"] = "/export";
  (*req.mutable_parameters())["server"] = "10.0.0.1";
  (*req.mutable_secrets())["password"] = "hunter2";
  req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id("snap-1");
  (*req.mutable_accessibility_requirements()->add_requisite()->mutable_segments())["topology.nfsprov/zone"] = "z1";
  (*req.mutable_accessibility_requirements()->add_preferred()->mutable_segments())["topology.nfsprov/zone"] = "z2";
  (*req.mutable_mutable_parameters())["iops"] = "100";
  EXPECT_BYTES_EQ(Serialize(req), CreateVolumeRequestBytes());
}

TEST(CsiWire, CreateVolumeRequestVolumeContentSourceAndFieldOrder) {
  // Fields deliberately out of order: parsers must not care.
  const std::string bytes = MapEntry(8, "tier", "gold") +
                            LenField(6, LenField(2, LenField(1, "vol-src"))) +  // content source: volume
                            LenField(1, "clone");
  const auto req = Parse<csi::v1::CreateVolumeRequest>(bytes);
  EXPECT_EQ(req.name(), "clone");
  ASSERT_TRUE(req.volume_content_source().has_volume());
  EXPECT_FALSE(req.volume_content_source().has_snapshot());
  EXPECT_EQ(req.volume_content_source().volume().volume_id(), "vol-src");
  EXPECT_EQ(req.mutable_parameters().at("tier"), "gold");

  csi::v1::CreateVolumeRequest out;
  out.mutable_volume_content_source()->mutable_volume()->set_volume_id("vol-src");
  EXPECT_BYTES_EQ(Serialize(out), std::string("\x32\x0b\x12\x09\x0a\x07vol-src", 13));
  out.Clear();
  (*out.mutable_mutable_parameters())["a"] = "b";
  // Tag 0x42 = field 8, length-delimited.
  EXPECT_BYTES_EQ(Serialize(out), std::string("\x42\x06\x0a\x01" "a" "\x12\x01" "b", 8));
}

std::string VolumeBytes() {
  return VarintField(1, 5368709120) +                    // capacity_bytes
         LenField(2, "nfs.example/vol-1") +               // volume_id
         MapEntry(3, "subdir", "vol-1") +                 // volume_context
         LenField(4, LenField(2, LenField(1, "vol-0"))) + // content_source: volume
         LenField(5, TopologyBytes("z1"));                // accessible_topology
}

TEST(CsiWire, CreateVolumeResponseVolume) {
  const auto resp = Parse<csi::v1::CreateVolumeResponse>(LenField(1, VolumeBytes()));
  const auto& vol = resp.volume();
  EXPECT_EQ(vol.capacity_bytes(), 5368709120);
  EXPECT_EQ(vol.volume_id(), "nfs.example/vol-1");
  EXPECT_EQ(vol.volume_context().at("subdir"), "vol-1");
  EXPECT_EQ(vol.content_source().volume().volume_id(), "vol-0");
  ASSERT_EQ(vol.accessible_topology_size(), 1);
  EXPECT_EQ(vol.accessible_topology(0).segments().at("topology.nfsprov/zone"), "z1");

  csi::v1::CreateVolumeResponse out;
  auto* v = out.mutable_volume();
  v->set_capacity_bytes(5368709120);
  v->set_volume_id("nfs.example/vol-1");
  (*v->mutable_volume_context())["subdir"] = "vol-1";
  v->mutable_content_source()->mutable_volume()->set_volume_id("vol-0");
  (*v->add_accessible_topology()->mutable_segments())["topology.nfsprov/zone"] = "z1";
  EXPECT_BYTES_EQ(Serialize(out), LenField(1, VolumeBytes()));
}

TEST(CsiWire, DeleteVolumeRequest) {
  const std::string bytes = LenField(1, "vol-1") + MapEntry(2, "token", "t");
  const auto req = Parse<csi::v1::DeleteVolumeRequest>(bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.secrets().at("token"), "t");
  EXPECT_BYTES_EQ(Serialize(req), bytes);
  csi::v1::DeleteVolumeRequest only_id;
  only_id.set_volume_id("v");
  EXPECT_BYTES_EQ(Serialize(only_id), std::string("\x0a\x01v", 3));
}

// ---------------------------------------------------------------------------
// Controller: expansion, snapshots, listing, capacity, validation, get/modify.
// ---------------------------------------------------------------------------

TEST(CsiWire, ControllerExpandVolume) {
  const std::string req_bytes = LenField(1, "vol-1") +
                                LenField(2, VarintField(1, 4096) + VarintField(2, 8192)) +
                                MapEntry(3, "k", "v") + LenField(4, MountCapabilityBytes());
  const auto req = Parse<csi::v1::ControllerExpandVolumeRequest>(req_bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.capacity_range().required_bytes(), 4096);
  EXPECT_EQ(req.capacity_range().limit_bytes(), 8192);
  EXPECT_EQ(req.secrets().at("k"), "v");
  ExpectMountCapability(req.volume_capability());
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  const std::string resp_bytes = VarintField(1, 8192) + VarintField(2, 1);
  const auto resp = Parse<csi::v1::ControllerExpandVolumeResponse>(resp_bytes);
  EXPECT_EQ(resp.capacity_bytes(), 8192);
  EXPECT_TRUE(resp.node_expansion_required());
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

std::string SnapshotBytes() {
  return VarintField(1, 1024) +                                   // size_bytes
         LenField(2, "snap-1") +                                  // snapshot_id
         LenField(3, "vol-1") +                                   // source_volume_id
         LenField(4, VarintField(1, 1700000000) + VarintField(2, 5)) +  // creation_time
         VarintField(5, 1) +                                      // ready_to_use
         LenField(6, "group-1");                                  // group_snapshot_id
}

void ExpectSnapshot(const csi::v1::Snapshot& snap) {
  EXPECT_EQ(snap.size_bytes(), 1024);
  EXPECT_EQ(snap.snapshot_id(), "snap-1");
  EXPECT_EQ(snap.source_volume_id(), "vol-1");
  EXPECT_EQ(snap.creation_time().seconds(), 1700000000);
  EXPECT_EQ(snap.creation_time().nanos(), 5);
  EXPECT_TRUE(snap.ready_to_use());
  EXPECT_EQ(snap.group_snapshot_id(), "group-1");
}

TEST(CsiWire, CreateSnapshot) {
  const std::string req_bytes =
      LenField(1, "vol-1") + LenField(2, "snapshot-name") + MapEntry(3, "s", "x") + MapEntry(4, "p", "y");
  const auto req = Parse<csi::v1::CreateSnapshotRequest>(req_bytes);
  EXPECT_EQ(req.source_volume_id(), "vol-1");
  EXPECT_EQ(req.name(), "snapshot-name");
  EXPECT_EQ(req.secrets().at("s"), "x");
  EXPECT_EQ(req.parameters().at("p"), "y");
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  const std::string resp_bytes = LenField(1, SnapshotBytes());
  const auto resp = Parse<csi::v1::CreateSnapshotResponse>(resp_bytes);
  ExpectSnapshot(resp.snapshot());
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, ListVolumes) {
  const std::string req_bytes = VarintField(1, 50) + LenField(2, "page-2");
  const auto req = Parse<csi::v1::ListVolumesRequest>(req_bytes);
  EXPECT_EQ(req.max_entries(), 50);
  EXPECT_EQ(req.starting_token(), "page-2");
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  const std::string status = LenField(1, "node-a") + LenField(1, "node-b") +
                             LenField(2, VarintField(1, 1) + LenField(2, "stale handle"));
  const std::string resp_bytes =
      LenField(1, LenField(1, VolumeBytes()) + LenField(2, status)) + LenField(2, "page-3");
  const auto resp = Parse<csi::v1::ListVolumesResponse>(resp_bytes);
  ASSERT_EQ(resp.entries_size(), 1);
  EXPECT_EQ(resp.entries(0).volume().volume_id(), "nfs.example/vol-1");
  ASSERT_EQ(resp.entries(0).status().published_node_ids_size(), 2);
  EXPECT_EQ(resp.entries(0).status().published_node_ids(1), "node-b");
  EXPECT_TRUE(resp.entries(0).status().volume_condition().abnormal());
  EXPECT_EQ(resp.entries(0).status().volume_condition().message(), "stale handle");
  EXPECT_EQ(resp.next_token(), "page-3");
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, ListSnapshots) {
  const std::string req_bytes = VarintField(1, 10) + LenField(2, "tok") + LenField(3, "vol-1") +
                                LenField(4, "snap-1") + MapEntry(5, "k", "v");
  const auto req = Parse<csi::v1::ListSnapshotsRequest>(req_bytes);
  EXPECT_EQ(req.max_entries(), 10);
  EXPECT_EQ(req.starting_token(), "tok");
  EXPECT_EQ(req.source_volume_id(), "vol-1");
  EXPECT_EQ(req.snapshot_id(), "snap-1");
  EXPECT_EQ(req.secrets().at("k"), "v");
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  const std::string resp_bytes = LenField(1, LenField(1, SnapshotBytes())) + LenField(2, "next");
  const auto resp = Parse<csi::v1::ListSnapshotsResponse>(resp_bytes);
  ASSERT_EQ(resp.entries_size(), 1);
  ExpectSnapshot(resp.entries(0).snapshot());
  EXPECT_EQ(resp.next_token(), "next");
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, GetCapacity) {
  const std::string req_bytes =
      LenField(1, MountCapabilityBytes()) + MapEntry(2, "server", "nfs-1") + LenField(3, TopologyBytes("z9"));
  const auto req = Parse<csi::v1::GetCapacityRequest>(req_bytes);
  ASSERT_EQ(req.volume_capabilities_size(), 1);
  ExpectMountCapability(req.volume_capabilities(0));
  EXPECT_EQ(req.parameters().at("server"), "nfs-1");
  EXPECT_EQ(req.accessible_topology().segments().at("topology.nfsprov/zone"), "z9");
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  // maximum_volume_size / minimum_volume_size are google.protobuf.Int64Value {value = 1}.
  const std::string resp_bytes =
      VarintField(1, 1000000) + LenField(2, VarintField(1, 900000)) + LenField(3, VarintField(1, 4096));
  const auto resp = Parse<csi::v1::GetCapacityResponse>(resp_bytes);
  EXPECT_EQ(resp.available_capacity(), 1000000);
  ASSERT_TRUE(resp.has_maximum_volume_size());
  EXPECT_EQ(resp.maximum_volume_size().value(), 900000);
  ASSERT_TRUE(resp.has_minimum_volume_size());
  EXPECT_EQ(resp.minimum_volume_size().value(), 4096);
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, ValidateVolumeCapabilities) {
  const std::string req_bytes = LenField(1, "vol-1") + MapEntry(2, "ctx", "c") +
                                LenField(3, MountCapabilityBytes()) + MapEntry(4, "p", "q") +
                                MapEntry(5, "s", "t") + MapEntry(6, "m", "n");
  const auto req = Parse<csi::v1::ValidateVolumeCapabilitiesRequest>(req_bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.volume_context().at("ctx"), "c");
  ASSERT_EQ(req.volume_capabilities_size(), 1);
  ExpectMountCapability(req.volume_capabilities(0));
  EXPECT_EQ(req.parameters().at("p"), "q");
  EXPECT_EQ(req.secrets().at("s"), "t");
  EXPECT_EQ(req.mutable_parameters().at("m"), "n");
  EXPECT_BYTES_EQ(Serialize(req), req_bytes);

  const std::string confirmed = MapEntry(1, "ctx", "c") + LenField(2, MountCapabilityBytes()) +
                                MapEntry(3, "p", "q") + MapEntry(4, "m", "n");
  const std::string resp_bytes = LenField(1, confirmed) + LenField(2, "ok");
  const auto resp = Parse<csi::v1::ValidateVolumeCapabilitiesResponse>(resp_bytes);
  ASSERT_TRUE(resp.has_confirmed());
  EXPECT_EQ(resp.confirmed().volume_context().at("ctx"), "c");
  ASSERT_EQ(resp.confirmed().volume_capabilities_size(), 1);
  ExpectMountCapability(resp.confirmed().volume_capabilities(0));
  EXPECT_EQ(resp.confirmed().parameters().at("p"), "q");
  EXPECT_EQ(resp.confirmed().mutable_parameters().at("m"), "n");
  EXPECT_EQ(resp.message(), "ok");
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, ControllerGetVolume) {
  const std::string req_bytes = LenField(1, "vol-1");
  EXPECT_EQ(Parse<csi::v1::ControllerGetVolumeRequest>(req_bytes).volume_id(), "vol-1");

  const std::string status = LenField(1, "node-a") + LenField(2, LenField(2, "healthy"));
  const std::string resp_bytes = LenField(1, VolumeBytes()) + LenField(2, status);
  const auto resp = Parse<csi::v1::ControllerGetVolumeResponse>(resp_bytes);
  EXPECT_EQ(resp.volume().capacity_bytes(), 5368709120);
  ASSERT_EQ(resp.status().published_node_ids_size(), 1);
  EXPECT_EQ(resp.status().published_node_ids(0), "node-a");
  EXPECT_FALSE(resp.status().volume_condition().abnormal());
  EXPECT_EQ(resp.status().volume_condition().message(), "healthy");
  EXPECT_BYTES_EQ(Serialize(resp), resp_bytes);
}

TEST(CsiWire, ControllerModifyVolume) {
  const std::string bytes = LenField(1, "vol-1") + MapEntry(2, "s", "t") + MapEntry(3, "iops", "300");
  const auto req = Parse<csi::v1::ControllerModifyVolumeRequest>(bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.secrets().at("s"), "t");
  EXPECT_EQ(req.mutable_parameters().at("iops"), "300");
  EXPECT_BYTES_EQ(Serialize(req), bytes);
  EXPECT_EQ(csi::v1::ControllerModifyVolumeResponse::descriptor()->field_count(), 0);
}

TEST(CsiWire, ControllerGetCapabilitiesCarriesModifyVolume) {
  // capabilities(1){ rpc(1){ type(1) = 14 } }
  const std::string bytes = LenField(1, LenField(1, VarintField(1, 14))) +
                            LenField(1, LenField(1, VarintField(1, 9)));
  const auto resp = Parse<csi::v1::ControllerGetCapabilitiesResponse>(bytes);
  ASSERT_EQ(resp.capabilities_size(), 2);
  EXPECT_EQ(resp.capabilities(0).rpc().type(), csi::v1::ControllerServiceCapability::RPC::MODIFY_VOLUME);
  EXPECT_EQ(resp.capabilities(1).rpc().type(), csi::v1::ControllerServiceCapability::RPC::EXPAND_VOLUME);
  EXPECT_BYTES_EQ(Serialize(resp), bytes);
}

// ---------------------------------------------------------------------------
// Node.
// ---------------------------------------------------------------------------

TEST(CsiWire, NodeStageVolumeRequest) {
  const std::string bytes = LenField(1, "vol-1") + MapEntry(2, "pub", "1") + LenField(3, "/staging/vol-1") +
                            LenField(4, MountCapabilityBytes()) + MapEntry(5, "s", "t") +
                            MapEntry(6, "share", "/export");
  const auto req = Parse<csi::v1::NodeStageVolumeRequest>(bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.publish_context().at("pub"), "1");
  EXPECT_EQ(req.staging_target_path(), "/staging/vol-1");
  ExpectMountCapability(req.volume_capability());
  EXPECT_EQ(req.secrets().at("s"), "t");
  EXPECT_EQ(req.volume_context().at("share"), "/export");
  EXPECT_BYTES_EQ(Serialize(req), bytes);
}

TEST(CsiWire, NodePublishVolumeRequest) {
  const std::string bytes = LenField(1, "vol-1") + MapEntry(2, "pub", "1") + LenField(3, "/staging/vol-1") +
                            LenField(4, "/pods/x/volumes/vol-1") + LenField(5, MountCapabilityBytes()) +
                            VarintField(6, 1) + MapEntry(7, "s", "t") + MapEntry(8, "share", "/export");
  const auto req = Parse<csi::v1::NodePublishVolumeRequest>(bytes);
  EXPECT_EQ(req.volume_id(), "vol-1");
  EXPECT_EQ(req.publish_context().at("pub"), "1");
  EXPECT_EQ(req.staging_target_path(), "/staging/vol-1");
  EXPECT_EQ(req.target_path(), "/pods/x/volumes/vol-1");
  ExpectMountCapability(req.volume_capability());
  EXPECT_TRUE(req.readonly());
  EXPECT_EQ(req.secrets().at("s"), "t");
  EXPECT_EQ(req.volume_context().at("share"), "/export");
  EXPECT_BYTES_EQ(Serialize(req), bytes);
}

TEST(CsiWire, NodeGetVolumeStatsResponse) {
  const std::string bytes_usage = VarintField(1, 700) + VarintField(2, 1000) + VarintField(3, 300) +
                                  VarintField(4, 1);  // unit = BYTES
  const std::string inode_usage = VarintField(1, 70) + VarintField(2, 100) + VarintField(3, 30) +
                                  VarintField(4, 2);  // unit = INODES
  const std::string bytes = LenField(1, bytes_usage) + LenField(1, inode_usage) +
                            LenField(2, VarintField(1, 1) + LenField(2, "server unreachable"));
  const auto resp = Parse<csi::v1::NodeGetVolumeStatsResponse>(bytes);
  ASSERT_EQ(resp.usage_size(), 2);
  EXPECT_EQ(resp.usage(0).available(), 700);
  EXPECT_EQ(resp.usage(0).total(), 1000);
  EXPECT_EQ(resp.usage(0).used(), 300);
  EXPECT_EQ(resp.usage(0).unit(), csi::v1::VolumeUsage::BYTES);
  EXPECT_EQ(resp.usage(1).unit(), csi::v1::VolumeUsage::INODES);
  EXPECT_EQ(resp.usage(1).used(), 30);
  EXPECT_TRUE(resp.volume_condition().abnormal());
  EXPECT_EQ(resp.volume_condition().message(), "server unreachable");
  EXPECT_BYTES_EQ(Serialize(resp), bytes);
}

TEST(CsiWire, NodeGetInfoResponse) {
  const std::string bytes = LenField(1, "node-a") + VarintField(2, 128) + LenField(3, TopologyBytes("z1"));
  const auto resp = Parse<csi::v1::NodeGetInfoResponse>(bytes);
  EXPECT_EQ(resp.node_id(), "node-a");
  EXPECT_EQ(resp.max_volumes_per_node(), 128);
  EXPECT_EQ(resp.accessible_topology().segments().at("topology.nfsprov/zone"), "z1");
  EXPECT_BYTES_EQ(Serialize(resp), bytes);
}

TEST(CsiWire, NodeExpandAndUnpublish) {
  const std::string expand = LenField(1, "vol-1") + LenField(2, "/pods/x") + LenField(3, VarintField(1, 10)) +
                             LenField(4, "/staging") + LenField(5, MountCapabilityBytes()) + MapEntry(6, "s", "t");
  const auto req = Parse<csi::v1::NodeExpandVolumeRequest>(expand);
  EXPECT_EQ(req.volume_path(), "/pods/x");
  EXPECT_EQ(req.capacity_range().required_bytes(), 10);
  EXPECT_EQ(req.staging_target_path(), "/staging");
  EXPECT_EQ(req.secrets().at("s"), "t");
  EXPECT_BYTES_EQ(Serialize(req), expand);

  const std::string unpublish = LenField(1, "vol-1") + LenField(2, "/pods/x");
  EXPECT_EQ(Parse<csi::v1::NodeUnpublishVolumeRequest>(unpublish).target_path(), "/pods/x");
  const std::string unstage = LenField(1, "vol-1") + LenField(2, "/staging");
  EXPECT_EQ(Parse<csi::v1::NodeUnstageVolumeRequest>(unstage).staging_target_path(), "/staging");
  const std::string stats_req = LenField(1, "vol-1") + LenField(2, "/pods/x") + LenField(3, "/staging");
  const auto stats = Parse<csi::v1::NodeGetVolumeStatsRequest>(stats_req);
  EXPECT_EQ(stats.volume_path(), "/pods/x");
  EXPECT_EQ(stats.staging_target_path(), "/staging");
}

TEST(CsiWire, NodeGetCapabilitiesResponse) {
  const std::string bytes = LenField(1, LenField(1, VarintField(1, 1))) +
                            LenField(1, LenField(1, VarintField(1, 2))) +
                            LenField(1, LenField(1, VarintField(1, 6)));
  const auto resp = Parse<csi::v1::NodeGetCapabilitiesResponse>(bytes);
  ASSERT_EQ(resp.capabilities_size(), 3);
  EXPECT_EQ(resp.capabilities(0).rpc().type(), csi::v1::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME);
  EXPECT_EQ(resp.capabilities(1).rpc().type(), csi::v1::NodeServiceCapability::RPC::GET_VOLUME_STATS);
  EXPECT_EQ(resp.capabilities(2).rpc().type(), csi::v1::NodeServiceCapability::RPC::VOLUME_MOUNT_GROUP);
}

// ---------------------------------------------------------------------------
// Identity.
// ---------------------------------------------------------------------------

TEST(CsiWire, GetPluginInfoResponse) {
  const std::string bytes = LenField(1, "nfs.csi.nfsprov.io") + LenField(2, "0.1.0") + MapEntry(3, "commit", "abc");
  const auto resp = Parse<csi::v1::GetPluginInfoResponse>(bytes);
  EXPECT_EQ(resp.name(), "nfs.csi.nfsprov.io");
  EXPECT_EQ(resp.vendor_version(), "0.1.0");
  EXPECT_EQ(resp.manifest().at("commit"), "abc");
  EXPECT_BYTES_EQ(Serialize(resp), bytes);
}

TEST(CsiWire, PluginCapabilitiesAndProbe) {
  // capabilities(1){service(1){type=CONTROLLER_SERVICE(1)}},
  // capabilities(1){volume_expansion(2){type=ONLINE(1)}}
  const std::string bytes = LenField(1, LenField(1, VarintField(1, 1))) +
                            LenField(1, LenField(2, VarintField(1, 1)));
  const auto resp = Parse<csi::v1::GetPluginCapabilitiesResponse>(bytes);
  ASSERT_EQ(resp.capabilities_size(), 2);
  ASSERT_TRUE(resp.capabilities(0).has_service());
  EXPECT_EQ(resp.capabilities(0).service().type(), csi::v1::PluginCapability::Service::CONTROLLER_SERVICE);
  ASSERT_TRUE(resp.capabilities(1).has_volume_expansion());
  EXPECT_EQ(resp.capabilities(1).volume_expansion().type(), csi::v1::PluginCapability::VolumeExpansion::ONLINE);
  EXPECT_BYTES_EQ(Serialize(resp), bytes);

  // ProbeResponse.ready is google.protobuf.BoolValue{value = 1}.
  const std::string probe = LenField(1, VarintField(1, 1));
  const auto ready = Parse<csi::v1::ProbeResponse>(probe);
  ASSERT_TRUE(ready.has_ready());
  EXPECT_TRUE(ready.ready().value());
  EXPECT_BYTES_EQ(Serialize(ready), probe);
}

// ---------------------------------------------------------------------------
// Enums.
// ---------------------------------------------------------------------------

void ExpectEnumValues(const pb::EnumDescriptor* e, const std::vector<std::pair<std::string, int>>& expected) {
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(static_cast<std::size_t>(e->value_count()), expected.size()) << e->full_name();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const pb::EnumValueDescriptor* v = e->value(static_cast<int>(i));
    EXPECT_EQ(v->name(), expected[i].first) << e->full_name() << " #" << i;
    EXPECT_EQ(v->number(), expected[i].second) << e->full_name() << "." << v->name();
  }
}

TEST(CsiWire, AccessModeValues) {
  using Mode = csi::v1::VolumeCapability::AccessMode;
  ExpectEnumValues(Mode::Mode_descriptor(), {{"UNKNOWN", 0},
                                             {"SINGLE_NODE_WRITER", 1},
                                             {"SINGLE_NODE_READER_ONLY", 2},
                                             {"MULTI_NODE_READER_ONLY", 3},
                                             {"MULTI_NODE_SINGLE_WRITER", 4},
                                             {"MULTI_NODE_MULTI_WRITER", 5},
                                             {"SINGLE_NODE_SINGLE_WRITER", 6},
                                             {"SINGLE_NODE_MULTI_WRITER", 7}});
  // And on the wire: AccessMode{mode(1) = 7}.
  EXPECT_EQ(Parse<Mode>(VarintField(1, 7)).mode(), Mode::SINGLE_NODE_MULTI_WRITER);
  EXPECT_EQ(Parse<Mode>(VarintField(1, 6)).mode(), Mode::SINGLE_NODE_SINGLE_WRITER);
  EXPECT_EQ(Parse<Mode>(VarintField(1, 3)).mode(), Mode::MULTI_NODE_READER_ONLY);
}

TEST(CsiWire, ControllerCapabilityValues) {
  ExpectEnumValues(csi::v1::ControllerServiceCapability::RPC::Type_descriptor(),
                   {{"UNKNOWN", 0},
                    {"CREATE_DELETE_VOLUME", 1},
                    {"PUBLISH_UNPUBLISH_VOLUME", 2},
                    {"LIST_VOLUMES", 3},
                    {"GET_CAPACITY", 4},
                    {"CREATE_DELETE_SNAPSHOT", 5},
                    {"LIST_SNAPSHOTS", 6},
                    {"CLONE_VOLUME", 7},
                    {"PUBLISH_READONLY", 8},
                    {"EXPAND_VOLUME", 9},
                    {"LIST_VOLUMES_PUBLISHED_NODES", 10},
                    {"VOLUME_CONDITION", 11},
                    {"GET_VOLUME", 12},
                    {"SINGLE_NODE_MULTI_WRITER", 13},
                    {"MODIFY_VOLUME", 14}});
}

TEST(CsiWire, NodeCapabilityValues) {
  ExpectEnumValues(csi::v1::NodeServiceCapability::RPC::Type_descriptor(),
                   {{"UNKNOWN", 0},
                    {"STAGE_UNSTAGE_VOLUME", 1},
                    {"GET_VOLUME_STATS", 2},
                    {"EXPAND_VOLUME", 3},
                    {"VOLUME_CONDITION", 4},
                    {"SINGLE_NODE_MULTI_WRITER", 5},
                    {"VOLUME_MOUNT_GROUP", 6}});
}

TEST(CsiWire, PluginCapabilityAndMiscEnumValues) {
  ExpectEnumValues(csi::v1::PluginCapability::Service::Type_descriptor(),
                   {{"UNKNOWN", 0},
                    {"CONTROLLER_SERVICE", 1},
                    {"VOLUME_ACCESSIBILITY_CONSTRAINTS", 2},
                    {"GROUP_CONTROLLER_SERVICE", 3}});
  ExpectEnumValues(csi::v1::PluginCapability::VolumeExpansion::Type_descriptor(),
                   {{"UNKNOWN", 0}, {"ONLINE", 1}, {"OFFLINE", 2}});
  ExpectEnumValues(csi::v1::VolumeUsage::Unit_descriptor(), {{"UNKNOWN", 0}, {"BYTES", 1}, {"INODES", 2}});
  ExpectEnumValues(csi::v1::GroupControllerServiceCapability::RPC::Type_descriptor(),
                   {{"UNKNOWN", 0}, {"CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT", 1}});
}

// ---------------------------------------------------------------------------
// Services, group snapshots and custom options via the descriptor pool.
// ---------------------------------------------------------------------------

void ExpectMethods(const std::string& service, const std::vector<std::string>& methods) {
  const pb::ServiceDescriptor* svc = pb::DescriptorPool::generated_pool()->FindServiceByName(service);
  ASSERT_NE(svc, nullptr) << service;
  ASSERT_EQ(static_cast<std::size_t>(svc->method_count()), methods.size()) << service;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    const pb::MethodDescriptor* m = svc->method(static_cast<int>(i));
    EXPECT_EQ(m->name(), methods[i]) << service << " method #" << i;
    EXPECT_EQ(m->input_type()->full_name(), "csi.v1." + methods[i] + "Request");
    EXPECT_EQ(m->output_type()->full_name(), "csi.v1." + methods[i] + "Response");
    EXPECT_FALSE(m->client_streaming());
    EXPECT_FALSE(m->server_streaming());
  }
}

TEST(CsiWire, ServicesHaveSpecMethodsInOrder) {
  ExpectMethods("csi.v1.Identity", {"GetPluginInfo", "GetPluginCapabilities", "Probe"});
  ExpectMethods("csi.v1.Controller",
                {"CreateVolume", "DeleteVolume", "ControllerPublishVolume", "ControllerUnpublishVolume",
                 "ValidateVolumeCapabilities", "ListVolumes", "GetCapacity", "ControllerGetCapabilities",
                 "CreateSnapshot", "DeleteSnapshot", "ListSnapshots", "ControllerExpandVolume",
                 "ControllerGetVolume", "ControllerModifyVolume"});
  ExpectMethods("csi.v1.GroupController", {"GroupControllerGetCapabilities", "CreateVolumeGroupSnapshot",
                                           "DeleteVolumeGroupSnapshot", "GetVolumeGroupSnapshot"});
  ExpectMethods("csi.v1.Node", {"NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume",
                                "NodeUnpublishVolume", "NodeGetVolumeStats", "NodeExpandVolume",
                                "NodeGetCapabilities", "NodeGetInfo"});
}

TEST(CsiWire, GroupSnapshotMessages) {
  const std::string create = LenField(1, "group") + LenField(2, "vol-1") + LenField(2, "vol-2") +
                             MapEntry(3, "s", "t") + MapEntry(4, "p", "q");
  const auto req = Parse<csi::v1::CreateVolumeGroupSnapshotRequest>(create);
  ASSERT_EQ(req.source_volume_ids_size(), 2);
  EXPECT_EQ(req.source_volume_ids(1), "vol-2");
  EXPECT_BYTES_EQ(Serialize(req), create);

  const std::string group = LenField(1, "group-1") + LenField(2, SnapshotBytes()) +
                            LenField(3, VarintField(1, 1700000000)) + VarintField(4, 1);
  const auto resp = Parse<csi::v1::CreateVolumeGroupSnapshotResponse>(LenField(1, group));
  EXPECT_EQ(resp.group_snapshot().group_snapshot_id(), "group-1");
  ASSERT_EQ(resp.group_snapshot().snapshots_size(), 1);
  ExpectSnapshot(resp.group_snapshot().snapshots(0));
  EXPECT_EQ(resp.group_snapshot().creation_time().seconds(), 1700000000);
  EXPECT_TRUE(resp.group_snapshot().ready_to_use());

  const std::string del = LenField(1, "group-1") + LenField(2, "snap-1") + MapEntry(3, "s", "t");
  EXPECT_EQ(Parse<csi::v1::DeleteVolumeGroupSnapshotRequest>(del).snapshot_ids(0), "snap-1");
  EXPECT_EQ(Parse<csi::v1::GetVolumeGroupSnapshotRequest>(del).secrets().at("s"), "t");
}

TEST(CsiWire, CustomOptionsUseSpecExtensionNumbers) {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  const std::vector<std::tuple<std::string, int, std::string>> expected = {
      {"csi.v1.alpha_enum", 1060, "google.protobuf.EnumOptions"},
      {"csi.v1.alpha_enum_value", 1060, "google.protobuf.EnumValueOptions"},
      {"csi.v1.csi_secret", 1059, "google.protobuf.FieldOptions"},
      {"csi.v1.alpha_field", 1060, "google.protobuf.FieldOptions"},
      {"csi.v1.alpha_message", 1060, "google.protobuf.MessageOptions"},
      {"csi.v1.alpha_method", 1060, "google.protobuf.MethodOptions"},
      {"csi.v1.alpha_service", 1060, "google.protobuf.ServiceOptions"},
  };
  for (const auto& [name, number, extendee] : expected) {
    const pb::FieldDescriptor* ext = pool->FindExtensionByName(name);
    ASSERT_NE(ext, nullptr) << name;
    EXPECT_EQ(ext->number(), number) << name;
    EXPECT_EQ(ext->containing_type()->full_name(), extendee) << name;
    EXPECT_EQ(ext->type(), pb::FieldDescriptor::TYPE_BOOL) << name;
  }

  // The option is encoded inside FieldOptions as varint field 1059.
  const pb::FieldDescriptor* secrets = csi::v1::CreateVolumeRequest::descriptor()->FindFieldByName("secrets");
  ASSERT_NE(secrets, nullptr);
  EXPECT_TRUE(secrets->options().GetExtension(csi::v1::csi_secret));
  EXPECT_BYTES_EQ(secrets->options().SerializeAsString(), VarintField(1059, 1));

  const pb::FieldDescriptor* mutable_params =
      csi::v1::CreateVolumeRequest::descriptor()->FindFieldByName("mutable_parameters");
  ASSERT_NE(mutable_params, nullptr);
  EXPECT_TRUE(mutable_params->options().GetExtension(csi::v1::alpha_field));
  EXPECT_BYTES_EQ(mutable_params->options().SerializeAsString(), VarintField(1060, 1));

  const pb::ServiceDescriptor* controller = pool->FindServiceByName("csi.v1.Controller");
  ASSERT_NE(controller, nullptr);
  EXPECT_TRUE(controller->FindMethodByName("ControllerModifyVolume")->options().GetExtension(csi::v1::alpha_method));
  EXPECT_FALSE(controller->FindMethodByName("CreateVolume")->options().GetExtension(csi::v1::alpha_method));
  EXPECT_TRUE(pool->FindServiceByName("csi.v1.GroupController")->options().GetExtension(csi::v1::alpha_service));
  EXPECT_TRUE(csi::v1::VolumeCondition::descriptor()->options().GetExtension(csi::v1::alpha_message));

  // Every `secrets` field in the file is marked csi_secret, and there are 16 of them in v1.9.
  const pb::FileDescriptor* file = csi::v1::CreateVolumeRequest::descriptor()->file();
  int secret_fields = 0;
  for (int i = 0; i < file->message_type_count(); ++i) {
    const pb::FieldDescriptor* f = file->message_type(i)->FindFieldByName("secrets");
    if (f == nullptr) continue;
    ++secret_fields;
    EXPECT_TRUE(f->options().GetExtension(csi::v1::csi_secret)) << file->message_type(i)->name();
  }
  EXPECT_EQ(secret_fields, 16);
}

// The gRPC stubs compile, link, and route to the generated virtuals.
class FakeIdentity final : public csi::v1::Identity::Service {
 public:
  grpc::Status GetPluginInfo(grpc::ServerContext* /*context*/, const csi::v1::GetPluginInfoRequest* /*request*/,
                             csi::v1::GetPluginInfoResponse* response) override {
    response->set_name("nfs.csi.nfsprov.io");
    response->set_vendor_version("0.1.0");
    return grpc::Status::OK;
  }
};

TEST(CsiWire, GeneratedGrpcServiceIsUsable) {
  FakeIdentity identity;
  csi::v1::Identity::Service& base = identity;
  csi::v1::GetPluginInfoRequest request;
  csi::v1::GetPluginInfoResponse response;
  const grpc::Status status = base.GetPluginInfo(nullptr, &request, &response);
  EXPECT_TRUE(status.ok());
  EXPECT_BYTES_EQ(Serialize(response), LenField(1, "nfs.csi.nfsprov.io") + LenField(2, "0.1.0"));
  // Unimplemented methods of the generated base class report UNIMPLEMENTED.
  csi::v1::ProbeRequest probe_request;
  csi::v1::ProbeResponse probe_response;
  EXPECT_EQ(base.Probe(nullptr, &probe_request, &probe_response).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
