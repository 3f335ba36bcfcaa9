// Conformance suite for `nfsprov controller`: driven over its socket like the sidecars do, against
// a real nfs-ganesha. Covers every Controller RPC, idempotency, pagination, concurrency,
// restarts of the controller and of the NFS server, the CSI error codes, and hostile input.
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "e2e/cluster.h"
#include "nfs/client.h"
#include "nfs/tree.h"
#include "tests/support/local_tree.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using ::csi::v1::VolumeCapability;

class ControllerE2E : public ClusterTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartCluster({"--reap-interval", "1"})); }

  grpc::Status Snap(const std::string& name, const std::string& source, ::csi::v1::Snapshot* out) {
    grpc::ClientContext ctx;
    ::csi::v1::CreateSnapshotRequest r;
    r.set_name(name);
    r.set_source_volume_id(source);
    ::csi::v1::CreateSnapshotResponse response;
    grpc::Status s = controller_->CreateSnapshot(&ctx, r, &response);
    if (out != nullptr) *out = response.snapshot();
    return s;
  }

  // A well-formed ID on this test's share that names nothing.
  std::string UnknownId(char kind) const {
    return std::string("nfsprov1|") + kind + "|4|" + std::to_string(server_->port()) +
           "|127.0.0.1|/export|" + std::string(26, 'a');
  }
};

TEST_F(ControllerE2E, IdentityAndCapabilities) {
  auto identity = ::csi::v1::Identity::NewStub(controller_process_->Channel());
  grpc::ClientContext c1;
  ::csi::v1::GetPluginInfoResponse info;
  ASSERT_TRUE(identity->GetPluginInfo(&c1, {}, &info).ok());
  EXPECT_EQ(info.name(), "nfsprov.csi.dev");
  EXPECT_FALSE(info.vendor_version().empty());

  grpc::ClientContext c2;
  ::csi::v1::GetPluginCapabilitiesResponse plugin;
  ASSERT_TRUE(identity->GetPluginCapabilities(&c2, {}, &plugin).ok());
  bool controller_service = false, online_expansion = false;
  for (auto& c : plugin.capabilities()) {
    controller_service |= c.service().type() == ::csi::v1::PluginCapability::Service::CONTROLLER_SERVICE;
    online_expansion |= c.volume_expansion().type() == ::csi::v1::PluginCapability::VolumeExpansion::ONLINE;
  }
  EXPECT_TRUE(controller_service);
  EXPECT_TRUE(online_expansion);

  grpc::ClientContext c3;
  ::csi::v1::ControllerGetCapabilitiesResponse caps;
  ASSERT_TRUE(controller_->ControllerGetCapabilities(&c3, {}, &caps).ok());
  std::set<int> types;
  for (auto& c : caps.capabilities()) types.insert(c.rpc().type());
  using R = ::csi::v1::ControllerServiceCapability::RPC;
  EXPECT_EQ(types, (std::set<int>{R::CREATE_DELETE_VOLUME, R::CREATE_DELETE_SNAPSHOT, R::CLONE_VOLUME,
                                  R::EXPAND_VOLUME, R::LIST_VOLUMES, R::LIST_SNAPSHOTS, R::GET_CAPACITY,
                                  R::GET_VOLUME, R::VOLUME_CONDITION, R::SINGLE_NODE_MULTI_WRITER}));

  grpc::ClientContext c4;
  ::csi::v1::ControllerPublishVolumeResponse publish;
  EXPECT_EQ(controller_->ControllerPublishVolume(&c4, {}, &publish).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ControllerE2E, CreateMakesAnEmptyDirectoryAndIsIdempotent) {
  auto request = CreateRequest("pvc-a", {{"subDir", "${pvc.metadata.namespace}/${pvc.metadata.name}"},
                                         {"csi.storage.k8s.io/pvc/name", "data"},
                                         {"csi.storage.k8s.io/pvc/namespace", "team"},
                                         {"mountPermissions", "0775"}});
  request.mutable_capacity_range()->set_required_bytes(5 * 1000 * 1000);
  ::csi::v1::Volume v;
  ASSERT_TRUE(Create(request, &v).ok());
  EXPECT_EQ(v.capacity_bytes(), 5 << 20) << "rounded up to whole MiB";
  EXPECT_LE(v.volume_id().size(), 128u);
  EXPECT_EQ(v.volume_context().at("subDir"), "team/data");
  EXPECT_EQ(v.volume_context().at("server"), "127.0.0.1");
  struct stat st;
  ASSERT_EQ(stat(Local("team/data").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0775u);
  EXPECT_TRUE(fs::is_empty(Local("team/data"))) << "the volume directory holds no driver files";

  ::csi::v1::Volume again;
  ASSERT_TRUE(Create(request, &again).ok());
  EXPECT_EQ(again.volume_id(), v.volume_id());

  request.mutable_capacity_range()->set_required_bytes(int64_t{10} << 30);
  EXPECT_EQ(Create(request).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  auto other = CreateRequest("pvc-a", {{"subDir", "elsewhere"}});
  EXPECT_EQ(Create(other).error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(ControllerE2E, ConcurrentCreatesWithOneNameMakeOneDirectory) {
  std::vector<std::future<std::pair<grpc::Status, std::string>>> calls;
  for (int i = 0; i < 64; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      ::csi::v1::Volume v;
      grpc::Status s = Create(CreateRequest("pvc-race"), &v);
      return std::make_pair(s, v.volume_id());
    }));
  }
  std::set<std::string> ids;
  for (auto& c : calls) {
    auto [s, id] = c.get();
    ASSERT_TRUE(s.ok()) << s.error_message();
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1u);
  int dirs = 0;
  for (auto& e : fs::directory_iterator(server_->export_dir()))
    if (e.path().filename() != ".nfsprov") ++dirs;
  EXPECT_EQ(dirs, 1);
}

TEST_F(ControllerE2E, ExistingDirectoryIsNeverSharedSilently) {
  fs::create_directories(Local("pvc-b"));
  std::ofstream(Local("pvc-b/precious")) << "someone else's data";
  grpc::Status s = Create(CreateRequest("pvc-b"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("belongs to no volume"), std::string::npos) << s.error_message();
  EXPECT_TRUE(fs::exists(Local("pvc-b/precious")));

  // An empty directory is someone's too: refused, not adopted.
  fs::create_directories(Local("pvc-empty"));
  EXPECT_EQ(Create(CreateRequest("pvc-empty")).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // Two names whose templates render to one path: the second is refused, the first keeps it.
  ASSERT_TRUE(Create(CreateRequest("pvc-c", {{"subDir", "shared-path"}})).ok());
  EXPECT_EQ(Create(CreateRequest("pvc-d", {{"subDir", "shared-path"}})).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(ControllerE2E, CsiErrorCodesForBadRequests) {
  auto no_name = CreateRequest("");
  EXPECT_EQ(Create(no_name).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto no_caps = CreateRequest("pvc-e");
  no_caps.clear_volume_capabilities();
  EXPECT_EQ(Create(no_caps).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto block = CreateRequest("pvc-e");
  block.mutable_volume_capabilities(0)->mutable_block();
  grpc::Status b = Create(block);
  EXPECT_EQ(b.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(b.error_message().find("block"), std::string::npos);
  auto range = CreateRequest("pvc-e");
  range.mutable_capacity_range()->set_required_bytes(10 << 20);
  range.mutable_capacity_range()->set_limit_bytes(1 << 20);
  EXPECT_EQ(Create(range).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  grpc::Status unknown = Create(CreateRequest("pvc-e", {{"colour", "blue"}}));
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(unknown.error_message().find("colour"), std::string::npos);
  auto bad_source = CreateRequest("pvc-e");
  bad_source.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(UnknownId('s'));
  EXPECT_EQ(Create(bad_source).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Listing(server_->export_dir()).find("pvc-e"), std::string::npos);
}

TEST_F(ControllerE2E, HostileNamesIdsAndTemplatesLeaveTheServerUnchanged) {
  ASSERT_TRUE(Create(CreateRequest("pvc-ok")).ok());
  std::string before = Listing(server_->export_dir());
  for (const std::string& name : {std::string(".."), std::string("a/b"), std::string("x\0y", 3),
                                  std::string(4096, 'n')}) {
    grpc::Status s = Create(CreateRequest(name));
    EXPECT_FALSE(s.ok()) << "name accepted: " << name.substr(0, 20);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  // Invalid UTF-8 in a proto3 string: protobuf refuses to parse the request (Go sidecars cannot
  // even send it), and the driver says so.
  grpc::Status undecodable = Create(CreateRequest("pvc-\xff\xfe"));
  EXPECT_EQ(undecodable.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(undecodable.error_message().find("cannot be decoded"), std::string::npos) << undecodable.error_message();
  for (const std::string& tmpl : {std::string("../escape"), std::string("/abs"), std::string("a/../../b"),
                                  std::string(".nfsprov/volumes"), std::string("${pvc.metadata.name}"),
                                  std::string("${nope}")}) {
    grpc::Status s = Create(CreateRequest("pvc-t", {{"subDir", tmpl},
                                                    {"csi.storage.k8s.io/pvc/name", ".."}}));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << tmpl << ": " << s.error_message();
  }
  for (const std::string& id : {std::string(".."), std::string("nfsprov1|v|4|0|127.0.0.1|/export|../../etc"),
                                std::string(4096, 'i'), std::string("nfsprov1|v|4|0|127.0.0.1|/export/..|aaaaaaaaaaaaaaaaaaaaaaaaaa"),
                                std::string("nfsprov1|s|4|0|127.0.0.1|/export|aaaaaaaaaaaaaaaaaaaaaaaaaa")}) {
    grpc::Status s = Delete(id);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id.substr(0, 60) << ": " << s.error_message();
  }
  EXPECT_EQ(Listing(server_->export_dir()), before);
}

TEST_F(ControllerE2E, DeleteIsImmediateIdempotentAndReaped) {
  ::csi::v1::Volume v;
  ASSERT_TRUE(Create(CreateRequest("pvc-del", {{"subDir", "apps/${pv.metadata.name}"},
                                               {"csi.storage.k8s.io/pv/name", "pvc-del"}}), &v).ok());
  fs::create_directories(Local("sibling"));
  testing::TreeShape shape;
  shape.fanout_dirs = 4;
  shape.levels = 3;
  shape.files_per_dir = 20;
  ASSERT_TRUE(testing::MakeTree(Local("apps/pvc-del/data"), shape).ok());
  ASSERT_TRUE(Delete(v.volume_id()).ok());
  EXPECT_FALSE(fs::exists(Local("apps/pvc-del")));
  EXPECT_FALSE(fs::exists(Local("apps"))) << "empty template parent left behind";
  EXPECT_TRUE(fs::exists(Local("sibling")));
  EXPECT_TRUE(WaitFor([&] { return fs::is_empty(Local(".nfsprov/trash")); }))
      << "reaper did not empty the trash";
  EXPECT_TRUE(Delete(v.volume_id()).ok()) << "second delete";
  EXPECT_TRUE(Delete(UnknownId('v')).ok()) << "unknown volume";
}

TEST_F(ControllerE2E, RetainAndArchiveKeepData) {
  ::csi::v1::Volume kept, archived;
  ASSERT_TRUE(Create(CreateRequest("pvc-keep", {{"onDelete", "retain"}}), &kept).ok());
  ASSERT_TRUE(Create(CreateRequest("pvc-arch", {{"onDelete", "archive"}, {"subDir", "ns/app/data"}}), &archived).ok());
  std::ofstream(Local("pvc-keep/f")) << "keep";
  std::ofstream(Local("ns/app/data/f")) << "archive";
  ASSERT_TRUE(Delete(kept.volume_id()).ok());
  ASSERT_TRUE(Delete(archived.volume_id()).ok());
  EXPECT_TRUE(fs::exists(Local("pvc-keep/f")));
  EXPECT_FALSE(fs::exists(Local("ns/app/data")));
  bool found = false;
  for (auto& e : fs::recursive_directory_iterator(Local(".nfsprov/archive/ns/app")))
    found |= e.path().filename() == "f";
  EXPECT_TRUE(found) << "archive did not keep the hierarchy";
}

TEST_F(ControllerE2E, ExpandGetAndValidate) {
  ::csi::v1::Volume v;
  auto request = CreateRequest("pvc-x");
  request.mutable_capacity_range()->set_required_bytes(1 << 30);
  ASSERT_TRUE(Create(request, &v).ok());
  {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerExpandVolumeRequest r;
    r.set_volume_id(v.volume_id());
    r.mutable_capacity_range()->set_required_bytes(int64_t{3} << 30);
    ::csi::v1::ControllerExpandVolumeResponse response;
    ASSERT_TRUE(controller_->ControllerExpandVolume(&ctx, r, &response).ok());
    EXPECT_EQ(response.capacity_bytes(), int64_t{3} << 30);
    EXPECT_FALSE(response.node_expansion_required());
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerExpandVolumeRequest r;
    r.set_volume_id(v.volume_id());
    r.mutable_capacity_range()->set_required_bytes(1 << 20);
    ::csi::v1::ControllerExpandVolumeResponse response;
    EXPECT_EQ(controller_->ControllerExpandVolume(&ctx, r, &response).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerGetVolumeRequest r;
    r.set_volume_id(v.volume_id());
    ::csi::v1::ControllerGetVolumeResponse response;
    ASSERT_TRUE(controller_->ControllerGetVolume(&ctx, r, &response).ok());
    EXPECT_EQ(response.volume().capacity_bytes(), int64_t{3} << 30);
    EXPECT_FALSE(response.status().volume_condition().abnormal());
  }
  {
    // Through NFS: ganesha caches what it serves and would not notice a local removal at once.
    auto client = nfs::Client::Connect(server_->Url());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    ASSERT_TRUE(nfs::RemoveTree(**client, "/pvc-x").ok());
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ControllerGetVolumeRequest r;
    r.set_volume_id(v.volume_id());
    ::csi::v1::ControllerGetVolumeResponse response;
    ASSERT_TRUE(controller_->ControllerGetVolume(&ctx, r, &response).ok());
    EXPECT_TRUE(response.status().volume_condition().abnormal());
    EXPECT_NE(response.status().volume_condition().message().find("missing"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ValidateVolumeCapabilitiesRequest r;
    r.set_volume_id(v.volume_id());
    *r.add_volume_capabilities() = Capability();
    ::csi::v1::ValidateVolumeCapabilitiesResponse response;
    ASSERT_TRUE(controller_->ValidateVolumeCapabilities(&ctx, r, &response).ok());
    EXPECT_TRUE(response.has_confirmed());
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ValidateVolumeCapabilitiesRequest r;
    r.set_volume_id(UnknownId('v'));
    *r.add_volume_capabilities() = Capability();
    ::csi::v1::ValidateVolumeCapabilitiesResponse response;
    EXPECT_EQ(controller_->ValidateVolumeCapabilities(&ctx, r, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ControllerE2E, ReadOnlyClassAcceptsAndConfirmsOnlyReaderModes) {
  auto request = [&](VolumeCapability::AccessMode::Mode mode) {
    ::csi::v1::CreateVolumeRequest r = CreateRequest("pvc-ro", {{"readOnly", "true"}});
    r.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(mode);
    return r;
  };
  grpc::Status refused = Create(request(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("readOnly"), std::string::npos) << refused.error_message();
  EXPECT_FALSE(fs::exists(Local("pvc-ro")));

  ::csi::v1::Volume v;
  ASSERT_TRUE(Create(request(VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY), &v).ok());
  EXPECT_EQ(v.volume_context().at("readOnly"), "true");
  auto validate = [&](VolumeCapability::AccessMode::Mode mode) {
    grpc::ClientContext ctx;
    ::csi::v1::ValidateVolumeCapabilitiesRequest r;
    r.set_volume_id(v.volume_id());
    *r.add_volume_capabilities() = Capability();
    r.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(mode);
    ::csi::v1::ValidateVolumeCapabilitiesResponse response;
    EXPECT_TRUE(controller_->ValidateVolumeCapabilities(&ctx, r, &response).ok());
    return response;
  };
  EXPECT_TRUE(validate(VolumeCapability::AccessMode::SINGLE_NODE_READER_ONLY).has_confirmed());
  auto writer = validate(VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  EXPECT_FALSE(writer.has_confirmed());
  EXPECT_NE(writer.message().find("read-only"), std::string::npos) << writer.message();
}

TEST_F(ControllerE2E, SnapshotsAndClonesAreIndependentCopies) {
  ::csi::v1::Volume source;
  ASSERT_TRUE(Create(CreateRequest("pvc-src"), &source).ok());
  std::ofstream(Local("pvc-src/a.txt")) << "version one";
  fs::create_directories(Local("pvc-src/sub"));
  fs::create_symlink("../a.txt", Local("pvc-src/sub/link"));

  ::csi::v1::Snapshot snap, again;
  ASSERT_TRUE(Snap("snap-1", source.volume_id(), &snap).ok());
  EXPECT_TRUE(snap.ready_to_use());
  EXPECT_EQ(snap.size_bytes(), 11);
  ASSERT_TRUE(Snap("snap-1", source.volume_id(), &again).ok());
  EXPECT_EQ(again.snapshot_id(), snap.snapshot_id());
  ::csi::v1::Volume other;
  ASSERT_TRUE(Create(CreateRequest("pvc-other"), &other).ok());
  EXPECT_EQ(Snap("snap-1", other.volume_id(), nullptr).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Snap("snap-2", UnknownId('v'), nullptr).error_code(),
            grpc::StatusCode::NOT_FOUND);

  std::ofstream(Local("pvc-src/a.txt")) << "version two";  // after the snapshot

  auto from_snapshot = CreateRequest("pvc-restored");
  from_snapshot.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap.snapshot_id());
  ::csi::v1::Volume restored;
  ASSERT_TRUE(Create(from_snapshot, &restored).ok());
  EXPECT_EQ(restored.content_source().snapshot().snapshot_id(), snap.snapshot_id());
  EXPECT_EQ(ReadAll(Local("pvc-restored/a.txt")), "version one");
  EXPECT_EQ(fs::read_symlink(Local("pvc-restored/sub/link")), "../a.txt");

  auto from_volume = CreateRequest("pvc-clone");
  from_volume.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
  ::csi::v1::Volume clone;
  ASSERT_TRUE(Create(from_volume, &clone).ok());
  std::ofstream(Local("pvc-clone/a.txt")) << "changed in the clone";
  EXPECT_EQ(ReadAll(Local("pvc-src/a.txt")), "version two") << "clone is not independent";

  {
    grpc::ClientContext ctx;
    ::csi::v1::ListSnapshotsRequest r;
    r.set_source_volume_id(source.volume_id());
    ::csi::v1::ListSnapshotsResponse response;
    ASSERT_TRUE(controller_->ListSnapshots(&ctx, r, &response).ok());
    ASSERT_EQ(response.entries_size(), 1);
    EXPECT_EQ(response.entries(0).snapshot().snapshot_id(), snap.snapshot_id());
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::DeleteSnapshotRequest r;
    r.set_snapshot_id(snap.snapshot_id());
    ::csi::v1::DeleteSnapshotResponse response;
    ASSERT_TRUE(controller_->DeleteSnapshot(&ctx, r, &response).ok());
    grpc::ClientContext ctx2;
    ASSERT_TRUE(controller_->DeleteSnapshot(&ctx2, r, &response).ok()) << "idempotent";
  }
  {
    grpc::ClientContext ctx;
    ::csi::v1::ListSnapshotsRequest r;
    r.set_snapshot_id(snap.snapshot_id());
    ::csi::v1::ListSnapshotsResponse response;
    ASSERT_TRUE(controller_->ListSnapshots(&ctx, r, &response).ok());
    EXPECT_EQ(response.entries_size(), 0);
  }
}

TEST_F(ControllerE2E, ListVolumesPaginatesAndSurvivesRestart) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) {
    ::csi::v1::Volume v;
    ASSERT_TRUE(Create(CreateRequest("pvc-l" + std::to_string(i)), &v).ok());
    created.insert(v.volume_id());
  }
  RestartController();  // SIGKILL (a crash, not a graceful stop), then start again
  std::set<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    ::csi::v1::ListVolumesRequest r;
    r.set_max_entries(3);
    r.set_starting_token(token);
    ::csi::v1::ListVolumesResponse response;
    ASSERT_TRUE(controller_->ListVolumes(&ctx, r, &response).ok());
    EXPECT_LE(response.entries_size(), 3);
    for (auto& e : response.entries()) EXPECT_TRUE(listed.insert(e.volume().volume_id()).second) << "duplicate";
    token = response.next_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(listed, created);
  EXPECT_EQ(pages, 3);

  grpc::ClientContext ctx;
  ::csi::v1::ListVolumesRequest bad;
  bad.set_starting_token("not-a-token");
  ::csi::v1::ListVolumesResponse response;
  EXPECT_EQ(controller_->ListVolumes(&ctx, bad, &response).error_code(), grpc::StatusCode::ABORTED);

  ::csi::v1::Volume again;
  ASSERT_TRUE(Create(CreateRequest("pvc-l0"), &again).ok());
  EXPECT_TRUE(created.count(again.volume_id())) << "idempotency lost across a restart";
}

TEST_F(ControllerE2E, GetCapacityIsWhatAdmissionStillAllows) {
  auto capacity = [&](Params params) {
    grpc::ClientContext ctx;
    ::csi::v1::GetCapacityRequest r;
    Params all = BaseParams();
    for (auto& [k, v] : params) all[k] = v;
    for (auto& [k, v] : all) (*r.mutable_parameters())[k] = v;
    ::csi::v1::GetCapacityResponse response;
    EXPECT_TRUE(controller_->GetCapacity(&ctx, r, &response).ok());
    return response.available_capacity();
  };
  // Without a class limit: the share's size (FSSTAT), less nothing yet.
  struct statvfs local;
  ASSERT_EQ(statvfs(server_->export_dir().c_str(), &local), 0);
  EXPECT_NEAR(static_cast<double>(capacity({})), static_cast<double>(local.f_blocks * local.f_frsize),
              64.0 * (1 << 20));
  constexpr int64_t kGi = int64_t{1} << 30;
  EXPECT_EQ(capacity({{"capacity", "10Gi"}}), 10 * kGi);
  EXPECT_EQ(capacity({{"capacity", "10Gi"}, {"overcommit", "1.5"}}), 15 * kGi);

  auto sized = [&](const std::string& name, int64_t bytes) {
    ::csi::v1::CreateVolumeRequest r = CreateRequest(name, {{"capacity", "10Gi"}});
    r.mutable_capacity_range()->set_required_bytes(bytes);
    return Create(r);
  };
  ASSERT_TRUE(sized("pvc-c1", 4 * kGi).ok());
  EXPECT_EQ(capacity({{"capacity", "10Gi"}}), 6 * kGi);
  ASSERT_TRUE(sized("pvc-c2", 6 * kGi).ok());
  EXPECT_EQ(capacity({{"capacity", "10Gi"}}), 0);
  grpc::Status full = sized("pvc-c3", kGi);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.error_message().find("over the limit of 10 GiB"), std::string::npos) << full.error_message();
  EXPECT_FALSE(fs::exists(Local("pvc-c3")));
  EXPECT_TRUE(sized("pvc-c1", 4 * kGi).ok()) << "a retry of an admitted volume is not new capacity";
}

TEST_F(ControllerE2E, UnreachableServerIsUnavailableThenRecovers) {
  ASSERT_TRUE(Create(CreateRequest("pvc-u1")).ok());
  ASSERT_TRUE(server_->Pause().ok());
  grpc::Status s = Create(CreateRequest("pvc-u2"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("127.0.0.1"), std::string::npos) << s.error_message();
  ASSERT_TRUE(server_->Resume().ok());
  EXPECT_TRUE(WaitFor([&] { return Create(CreateRequest("pvc-u2")).ok(); }, std::chrono::seconds(30)));
  EXPECT_TRUE(fs::exists(Local("pvc-u2")));
}

TEST_F(ControllerE2E, NfsServerRestartDuringCalls) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::thread creator([&] {
    for (int i = 0; i < 40 && !stop; ++i) {
      if (Create(CreateRequest("pvc-r" + std::to_string(i))).ok()) ++ok;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(server_->Restart().ok());
  creator.join();
  EXPECT_GT(ok.load(), 30) << "calls did not ride through a server restart\n" << controller_process_->Log();
  for (int i = 0; i < 40; ++i) {
    grpc::Status s = Create(CreateRequest("pvc-r" + std::to_string(i)));
    EXPECT_TRUE(s.ok()) << i << ": " << s.error_message();
  }
}

// The sidecars keep their connection open between calls and notice a GOAWAY only seconds later;
// a stop with nothing in flight must not wait for them (it took 5 s when it did).
TEST_F(ControllerE2E, GracefulStopRemovesTheSocketWithoutWaitingForIdleConnections) {
  grpc::Status created = Create(CreateRequest("pvc-before-stop"));
  ASSERT_TRUE(created.ok()) << created.error_message();
  const auto stop_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(controller_process_->Stop().ok()) << controller_process_->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::seconds(2)) << controller_process_->Log();
  EXPECT_FALSE(fs::exists(controller_process_->socket_path()));
}

}  // namespace
}  // namespace nfsprov::e2e
