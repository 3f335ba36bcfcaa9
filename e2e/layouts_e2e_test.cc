// End to end for shared roots (StorageClass `sharedRoot`, with `subDir` and `readOnly`): the real
// controller and node binaries over their sockets, a real nfs-ganesha, FUSE mounts on two node
// plugins that each have their own mount namespace (two machines). The share is inspected on the
// export's local directory: reference counts in .nfsprov/roots, records, claims, the data.
#include <fcntl.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/cluster.h"
#include "provisioner/object_id.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using Keys = std::set<std::string>;

// A volume's key: the last field of its ID.
std::string KeyOf(const ::csi::v1::Volume& v) { return v.volume_id().substr(v.volume_id().rfind('|') + 1); }

// Names in a directory (none when it does not exist), without `suffix` where they end in it.
Keys Entries(const std::string& dir, const std::string& suffix = "") {
  Keys names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!suffix.empty() && name.ends_with(suffix)) name.resize(name.size() - suffix.size());
    names.insert(name);
  }
  return names;
}

// A FUSE node caches attributes for 1 s (docs/fusefs.md), so what another node wrote to a file
// this node has read before shows up within that: wait until it does, then compare.
std::string ReadWhenEqual(const std::string& path, const std::string& expected) {
  std::string got;
  WaitFor([&] { return (got = ReadAll(path)) == expected; });
  return got;
}

class LayoutsE2E : public ClusterTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartCluster({"--reap-interval", "1"})); }

  // The volumes referencing shared root `root` of the /export share (their keys).
  Keys Refs(const std::string& root) const { return Entries(Local(".nfsprov/roots/" + KeyForName(root))); }
  // The keys of the volume records of the /export share.
  Keys Records() const { return Entries(Local(".nfsprov/volumes"), ".json"); }
  std::string ClaimOf(const std::string& path) const {
    std::error_code ec;
    return fs::read_symlink(Local(".nfsprov/claims/" + KeyForName(path)), ec).string();
  }
};

// Situation 1: an API with two replicas on one shared root, a plugin directory inside it that an
// installer writes and the API reads read-only, and an ordinary per-PVC volume beside them.
TEST_F(LayoutsE2E, HaApiWithSharedRootAndReadOnlyPlugins) {
  const Params api_class = {{"sharedRoot", "api"}};
  const Params plugin_class = {{"sharedRoot", "api"}, {"subDir", "plugins"}, {"readOnly", "true"}};
  const Params installer_class = {{"sharedRoot", "api"}, {"subDir", "plugins"}};
  ::csi::v1::Volume api0 = MustCreate("pvc-api-0", api_class);
  ::csi::v1::Volume api1 = MustCreate("pvc-api-1", api_class);
  ::csi::v1::Volume plugins = MustCreate("pvc-plugins", plugin_class, kReader);
  ::csi::v1::Volume installer = MustCreate("pvc-installer", installer_class);
  ::csi::v1::Volume own = MustCreate("pvc-own", {});

  // A read-only class refuses a writer access mode, and says why.
  grpc::Status refused = Create(CreateRequest("pvc-plugins-rw", plugin_class, kWriter));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_NE(refused.error_message().find("readOnly"), std::string::npos) << refused.error_message();
  EXPECT_EQ(Records().count(KeyForName("pvc-plugins-rw")), 0u);

  // Four volumes, four IDs, one root with four references; the per-PVC volume is apart.
  EXPECT_EQ(KeyOf(api0), KeyForName("pvc-api-0"));
  EXPECT_EQ((std::set<std::string>{api0.volume_id(), api1.volume_id(), plugins.volume_id(),
                                   installer.volume_id()}).size(), 4u);
  EXPECT_EQ(api0.volume_context().at("subDir"), "api");
  EXPECT_EQ(api1.volume_context().at("subDir"), "api");
  EXPECT_EQ(plugins.volume_context().at("subDir"), "api/plugins");
  EXPECT_EQ(plugins.volume_context().at("readOnly"), "true");
  EXPECT_EQ(installer.volume_context().at("subDir"), "api/plugins");
  EXPECT_EQ(installer.volume_context().count("readOnly"), 0u);
  EXPECT_EQ(own.volume_context().at("subDir"), "pvc-own");
  EXPECT_EQ(Refs("api"), (Keys{KeyForName("pvc-api-0"), KeyForName("pvc-api-1"), KeyForName("pvc-plugins"),
                              KeyForName("pvc-installer")}));
  EXPECT_EQ(ClaimOf("api"), "shared-root");
  EXPECT_EQ(fs::status(Local("api")).permissions(), fs::perms::all) << "default mode 0777";
  EXPECT_TRUE(fs::is_directory(Local("api/plugins")));

  StartNode("node-1");
  StartNode("node-2");
  const std::string api_on_1 = MountInPod("node-1", api0);
  const std::string api_on_2 = MountInPod("node-2", api1);
  // Asked read-write with a writer mode: only the volume context makes it read-only.
  const std::string plugins_on_1 = MountInPod("node-1", plugins, /*readonly=*/false, kWriter);
  const std::string installer_on_2 = MountInPod("node-2", installer);
  const std::string own_on_1 = MountInPod("node-1", own);
  ASSERT_FALSE(HasFailure());

  ASSERT_TRUE(WriteFile(api_on_1 + "/sessions.json", "{\"from\": \"replica 0\"}"));
  EXPECT_EQ(ReadAll(api_on_2 + "/sessions.json"), "{\"from\": \"replica 0\"}");

  ASSERT_TRUE(WriteFile(installer_on_2 + "/p.so", "plugin v1"));
  EXPECT_EQ(ReadAll(plugins_on_1 + "/p.so"), "plugin v1");
  EXPECT_EQ(ReadAll(api_on_1 + "/plugins/p.so"), "plugin v1");
  EXPECT_EQ(ReadAll(Local("api/plugins/p.so")), "plugin v1");

  int error = 0;
  EXPECT_FALSE(WriteFile(plugins_on_1 + "/p.so", "tampered", &error));
  EXPECT_EQ(error, EROFS);
  EXPECT_FALSE(WriteFile(plugins_on_1 + "/new.so", "x", &error));
  EXPECT_EQ(error, EROFS);
  EXPECT_EQ(ReadAll(Local("api/plugins/p.so")), "plugin v1");

  EXPECT_TRUE(WriteFile(own_on_1 + "/mine", "per-PVC data"));
  EXPECT_EQ(Entries(own_on_1), Keys{"mine"}) << "the per-PVC volume sees none of the root's files";
  EXPECT_EQ(Entries(api_on_2), (Keys{"sessions.json", "plugins"}));

  // Deleting every volume of the root keeps its data (shared roots default to retain) and drops
  // its references and claim.
  UnmountAll();
  for (const auto* v : {&api0, &api1, &plugins, &installer}) {
    EXPECT_GRPC_OK(Delete(v->volume_id()));
  }
  EXPECT_EQ(ReadAll(Local("api/sessions.json")), "{\"from\": \"replica 0\"}");
  EXPECT_EQ(ReadAll(Local("api/plugins/p.so")), "plugin v1");
  EXPECT_FALSE(fs::exists(Local(".nfsprov/roots/" + KeyForName("api"))));
  EXPECT_EQ(ClaimOf("api"), "");
  EXPECT_EQ(Records(), Keys{KeyForName("pvc-own")});
}

// Situation 2: two replicas keep one cache file up to date on one shared root from two nodes,
// and one of them restarts.
TEST_F(LayoutsE2E, SharedCacheFileUpdatedFromTwoNodesSurvivesPodRestart) {
  const Params cache_class = {{"sharedRoot", "cache"}};
  ::csi::v1::Volume v0 = MustCreate("pvc-cache-0", cache_class);
  ::csi::v1::Volume v1 = MustCreate("pvc-cache-1", cache_class);
  StartNode("node-1");
  StartNode("node-2");
  std::string on_1 = MountInPod("node-1", v0);
  std::string on_2 = MountInPod("node-2", v1);
  ASSERT_FALSE(HasFailure());

  std::string expected;
  for (int round = 0; round < 3; ++round) {
    for (const std::string* pod : {&on_1, &on_2}) {
      ASSERT_EQ(ReadWhenEqual(*pod + "/cache.txt", expected), expected) << "round " << round;
      const std::string line = (pod == &on_1 ? "node-1" : "node-2") + std::string(" round ") +
                               std::to_string(round) + "\n";
      ASSERT_TRUE(WriteFile(*pod + "/cache.txt", line, nullptr, O_APPEND));
      expected += line;
    }
  }
  EXPECT_EQ(ReadAll(Local("cache/cache.txt")), expected);
  EXPECT_EQ(std::count(expected.begin(), expected.end(), '\n'), 6);

  UnmountPod(on_2);
  on_2 = MountInPod("node-2", v1);
  EXPECT_EQ(ReadAll(on_2 + "/cache.txt"), expected);
  EXPECT_EQ(ReadWhenEqual(on_1 + "/cache.txt", expected), expected);
  EXPECT_EQ(Refs("cache"), (Keys{KeyForName("pvc-cache-0"), KeyForName("pvc-cache-1")}));
}

// Situation 3: one server, two classes: per-PVC volumes on the export, and a scratch area that is
// a share of its own below it. Each volume lands in its share and is handled by its onDelete.
TEST_F(LayoutsE2E, ShareAndScratchAreaOnOneServer) {
  fs::create_directories(Local("scratch"));
  const Params durable_class = {{"onDelete", "archive"}};
  Params scratch_class = BaseParams("/export/scratch");
  scratch_class["onDelete"] = "delete";
  ::csi::v1::Volume x = MustCreate("pvc-x", durable_class);
  ::csi::v1::Volume y = MustCreate("pvc-y", scratch_class);
  EXPECT_EQ(x.volume_context().at("share"), "/export");
  EXPECT_EQ(y.volume_context().at("share"), "/export/scratch");
  EXPECT_NE(y.volume_id().find("|/export/scratch|"), std::string::npos) << y.volume_id();
  EXPECT_TRUE(fs::is_directory(Local("pvc-x")));
  EXPECT_TRUE(fs::is_directory(Local("scratch/pvc-y")));
  EXPECT_FALSE(fs::exists(Local("pvc-y")));
  EXPECT_FALSE(fs::exists(Local("scratch/pvc-x")));
  EXPECT_EQ(Records(), Keys{KeyForName("pvc-x")});
  EXPECT_EQ(Entries(Local("scratch/.nfsprov/volumes"), ".json"), Keys{KeyForName("pvc-y")});

  StartNode("node-1");
  const std::string x_pod = MountInPod("node-1", x);
  const std::string y_pod = MountInPod("node-1", y);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(WriteFile(x_pod + "/report", "keep me"));
  ASSERT_TRUE(WriteFile(y_pod + "/tmp", "throw me away"));
  EXPECT_EQ(ReadAll(Local("pvc-x/report")), "keep me");
  EXPECT_EQ(ReadAll(Local("scratch/pvc-y/tmp")), "throw me away");
  EXPECT_EQ(Entries(x_pod), Keys{"report"});
  UnmountAll();

  ASSERT_GRPC_OK(Delete(x.volume_id()));
  ASSERT_GRPC_OK(Delete(y.volume_id()));
  EXPECT_FALSE(fs::exists(Local("pvc-x")));
  EXPECT_EQ(ReadAll(Local(".nfsprov/archive/pvc-x." + KeyForName("pvc-x") + "/report")), "keep me");
  EXPECT_FALSE(fs::exists(Local("scratch/pvc-y")));
  EXPECT_TRUE(WaitFor([&] { return Entries(Local("scratch/.nfsprov/trash")).empty(); }))
      << "the scratch share's reaper empties its trash";
  EXPECT_TRUE(Records().empty());
  EXPECT_TRUE(Entries(Local("scratch/.nfsprov/volumes")).empty());
}

// Three volumes on one root with onDelete=delete, deleted in each of the six orders: while one
// reference is left the root and its data stay; the last deletion moves the root to the trash.
TEST_F(LayoutsE2E, DeletionInEveryOrderNeverLosesReferencedData) {
  std::vector<int> order = {0, 1, 2};
  int permutation = 0;
  do {
    SCOPED_TRACE("order " + std::to_string(order[0]) + std::to_string(order[1]) + std::to_string(order[2]));
    const std::string root = "perm-" + std::to_string(permutation++);
    const Params root_class = {{"sharedRoot", root}, {"onDelete", "delete"}};
    std::vector<std::string> ids;
    Keys alive;
    for (int i = 0; i < 3; ++i) {
      const std::string name = root + "-v" + std::to_string(i);
      ids.push_back(MustCreate(name, root_class).volume_id());
      alive.insert(KeyForName(name));
    }
    ASSERT_TRUE(WriteFile(Local(root + "/marker"), "still here"));
    ASSERT_EQ(Refs(root), alive);
    for (int step = 0; step < 3; ++step) {
      const int i = order[step];
      ASSERT_GRPC_OK(Delete(ids[i]));
      alive.erase(KeyForName(root + "-v" + std::to_string(i)));
      if (step < 2) {
        EXPECT_EQ(ReadAll(Local(root + "/marker")), "still here") << "after deleting v" << i;
        EXPECT_EQ(Refs(root), alive);
        EXPECT_EQ(ClaimOf(root), "shared-root");
      } else {
        EXPECT_FALSE(fs::exists(Local(root))) << "the last deletion moves the root away";
        EXPECT_FALSE(fs::exists(Local(".nfsprov/roots/" + KeyForName(root))));
        EXPECT_FALSE(fs::exists(Local(".nfsprov/roots/" + KeyForName(root) + ".teardown")));
        EXPECT_EQ(ClaimOf(root), "");
      }
    }
    EXPECT_TRUE(Records().empty());
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutation, 6);
  EXPECT_TRUE(WaitFor([&] { return Entries(Local(".nfsprov/trash")).empty(); }))
      << "the reaper removes the deleted roots";
  EXPECT_TRUE(Entries(Local(".nfsprov/archive")).empty());
}

// The controller SIGKILLs itself at each step of a shared-root create or delete; after a normal
// restart the same call succeeds and the references are exactly the existing volumes.
TEST_F(LayoutsE2E, CrashAtEveryStepThenRetryKeepsReferencesExact) {
  int run = 0;
  // A fresh root with `volumes` volumes created normally (onDelete=delete) and, when it has any,
  // a marker file in it.
  auto fresh_root = [&](int volumes, std::vector<::csi::v1::Volume>* made) {
    const std::string root = "crash-" + std::to_string(run++);
    for (int i = 0; i < volumes; ++i)
      made->push_back(MustCreate(root + "-v" + std::to_string(i), {{"sharedRoot", root}, {"onDelete", "delete"}}));
    if (volumes > 0) {
      EXPECT_TRUE(WriteFile(Local(root + "/marker"), "root data"));
    }
    return root;
  };
  auto keys_of = [](const std::vector<::csi::v1::Volume>& volumes) {
    Keys keys;
    for (const auto& v : volumes) keys.insert(KeyOf(v));
    return keys;
  };

  // Creates: recorded and referenced on a root that already has a volume and data, and on a new
  // one; claimed happens only on a new root.
  for (const std::string point : {"create-shared:recorded", "create-shared:referenced", "create-shared:claimed"}) {
    for (int existing : {0, 1}) {
      if (point == "create-shared:claimed" && existing == 1) continue;
      SCOPED_TRACE(point + (existing ? " (second volume)" : " (first volume)"));
      std::vector<::csi::v1::Volume> volumes;
      const std::string root = fresh_root(existing, &volumes);
      const std::string name = root + "-new";
      const Params root_class = {{"sharedRoot", root}, {"onDelete", "delete"}};
      RestartController(point);
      grpc::Status crashed = Create(CreateRequest(name, root_class));
      EXPECT_EQ(crashed.error_code(), grpc::StatusCode::UNAVAILABLE) << crashed.error_message();
      EXPECT_EQ(Records().count(KeyForName(name)), 1u) << "every crash point follows the record";
      RestartController();
      ::csi::v1::Volume v;
      ASSERT_GRPC_OK(Create(CreateRequest(name, root_class), &v));
      EXPECT_EQ(v.volume_context().at("subDir"), root);
      volumes.push_back(v);
      EXPECT_EQ(Refs(root), keys_of(volumes));
      EXPECT_EQ(ClaimOf(root), "shared-root");
      EXPECT_TRUE(fs::is_directory(Local(root)));
      if (existing == 1) {
        EXPECT_EQ(ReadAll(Local(root + "/marker")), "root data");
      }
      EXPECT_EQ(Records(), keys_of(volumes));
      for (const auto& each : volumes) EXPECT_GRPC_OK(Delete(each.volume_id()));
      EXPECT_FALSE(fs::exists(Local(root)));
    }
  }

  // DeleteVolume of `volume` with the controller armed to die at `point`: the reference is gone,
  // the record is not; after a normal restart the same call succeeds.
  auto crash_then_delete = [&](const std::string& point, const std::string& root, const ::csi::v1::Volume& volume) {
    RestartController(point);
    grpc::Status crashed = Delete(volume.volume_id());
    EXPECT_EQ(crashed.error_code(), grpc::StatusCode::UNAVAILABLE) << crashed.error_message();
    EXPECT_EQ(Refs(root).count(KeyOf(volume)), 0u) << "the reference goes first";
    EXPECT_EQ(Records().count(KeyOf(volume)), 1u) << "the record goes last";
    RestartController();
    ASSERT_GRPC_OK(Delete(volume.volume_id()));
  };

  // Deletes that leave a reference: the root and its data stay.
  for (const std::string point : {"delete-shared:unreferenced", "delete-shared:marked"}) {
    SCOPED_TRACE(point + " (not the last reference)");
    std::vector<::csi::v1::Volume> volumes;
    const std::string root = fresh_root(2, &volumes);
    ASSERT_NO_FATAL_FAILURE(crash_then_delete(point, root, volumes[0]));
    volumes.erase(volumes.begin());
    EXPECT_EQ(Refs(root), keys_of(volumes));
    EXPECT_EQ(Records(), keys_of(volumes));
    EXPECT_EQ(ReadAll(Local(root + "/marker")), "root data");
    EXPECT_EQ(ClaimOf(root), "shared-root");
    EXPECT_FALSE(fs::exists(Local(".nfsprov/roots/" + KeyForName(root) + ".teardown")));
    ASSERT_GRPC_OK(Delete(volumes[0].volume_id()));
    EXPECT_FALSE(fs::exists(Local(root)));
  }

  // The last reference: the root goes, and afterwards the same root starts afresh.
  for (const std::string point : {"delete-shared:unreferenced", "delete-shared:marked", "delete-shared:last",
                                  "delete-shared:applied"}) {
    SCOPED_TRACE(point + " (the last reference)");
    std::vector<::csi::v1::Volume> volumes;
    const std::string root = fresh_root(1, &volumes);
    ASSERT_NO_FATAL_FAILURE(crash_then_delete(point, root, volumes[0]));
    EXPECT_FALSE(fs::exists(Local(root)));
    EXPECT_TRUE(Refs(root).empty());
    EXPECT_TRUE(Records().empty());
    EXPECT_EQ(ClaimOf(root), "");
    EXPECT_FALSE(fs::exists(Local(".nfsprov/roots/" + KeyForName(root) + ".teardown")));
    ::csi::v1::Volume again = MustCreate(root + "-again", {{"sharedRoot", root}});
    EXPECT_TRUE(fs::is_directory(Local(root)));
    EXPECT_TRUE(fs::is_empty(Local(root))) << "a new root, not the deleted one";
    EXPECT_EQ(Refs(root), Keys{KeyForName(root + "-again")});
    EXPECT_GRPC_OK(Delete(again.volume_id()));
  }
  EXPECT_TRUE(WaitFor([&] { return Entries(Local(".nfsprov/trash")).empty(); }));
}

// Situation 4: the cluster and every driver record are lost; the data on the shared root is not,
// and a new cluster finds it through a new volume of the same class, or through a static volume.
TEST_F(LayoutsE2E, SharedRootSurvivesLossOfTheWholeCluster) {
  const Params state_class = {{"sharedRoot", "state"}};
  StartNode("node-1");
  ::csi::v1::Volume before = MustCreate("pvc-state-old-cluster", state_class);
  const std::string pod = MountInPod("node-1", before);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(WriteFile(pod + "/db", "the state of the world"));
  UnmountPod(pod);
  ASSERT_GRPC_OK(Delete(before.volume_id()));
  EXPECT_EQ(ReadAll(Local("state/db")), "the state of the world") << "retain is the shared default";

  // The cluster is gone: its sidecars (the controller's clients) first, then the controller.
  controller_.reset();
  ASSERT_TRUE(controller_process_->Stop().ok());
  fs::remove_all(Local(".nfsprov"));
  RestartController();
  ::csi::v1::Volume after = MustCreate("pvc-state-new-cluster", state_class);
  EXPECT_EQ(after.volume_context().at("subDir"), "state");
  EXPECT_EQ(Refs("state"), Keys{KeyForName("pvc-state-new-cluster")});
  EXPECT_EQ(Records(), Keys{KeyForName("pvc-state-new-cluster")});
  StartNode("node-2");
  const std::string new_pod = MountInPod("node-2", after);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(ReadAll(new_pod + "/db"), "the state of the world");

  // A static volume needs no controller at all.
  controller_.reset();
  ASSERT_TRUE(controller_process_->Stop().ok());
  const ::csi::v1::Volume manual = StaticVolume("state-by-hand", {{"subDir", "state"}});
  const std::string static_pod = MountInPod("node-1", manual);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(ReadAll(static_pod + "/db"), "the state of the world");
}

// Bad paths are INVALID_ARGUMENT and nesting is FAILED_PRECONDITION; neither touches the export,
// the records, the claims or the references.
TEST_F(LayoutsE2E, BadPathsAndNestingAreRefusedAndTouchNothing) {
  MustCreate("pvc-apps", {{"subDir", "apps"}});
  MustCreate("pvc-d1", {{"subDir", "data/d1"}});
  MustCreate("pvc-shared", {{"sharedRoot", "shared"}});
  ASSERT_TRUE(WriteFile(Local("apps/app-data"), "exclusive"));
  ASSERT_FALSE(HasFailure());
  const std::string data = Listing(server_->export_dir(), {".nfsprov"});
  const std::string metadata = Listing(Local(".nfsprov"), {"trash"});
  ASSERT_NE(data.find("data/d1\n"), std::string::npos) << data;
  ASSERT_NE(metadata.find("roots/" + KeyForName("shared") + "/" + KeyForName("pvc-shared")), std::string::npos)
      << metadata;

  struct Case {
    std::string name;
    Params params;
    grpc::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"pvc-up", {{"sharedRoot", "../x"}}, grpc::StatusCode::INVALID_ARGUMENT, "sharedRoot"},
      {"pvc-abs", {{"sharedRoot", "/abs"}}, grpc::StatusCode::INVALID_ARGUMENT, "sharedRoot"},
      {"pvc-meta", {{"sharedRoot", ".nfsprov"}}, grpc::StatusCode::INVALID_ARGUMENT, "sharedRoot"},
      {"pvc-sub-up", {{"sharedRoot", "ok"}, {"subDir", "../../x"}}, grpc::StatusCode::INVALID_ARGUMENT, "subDir"},
      {"pvc-in-apps", {{"sharedRoot", "apps/x"}}, grpc::StatusCode::FAILED_PRECONDITION, "nest"},
      {"pvc-is-apps", {{"sharedRoot", "apps"}}, grpc::StatusCode::FAILED_PRECONDITION, "exclusive"},
      {"pvc-in-shared", {{"subDir", "shared/x"}}, grpc::StatusCode::FAILED_PRECONDITION, "nest"},
      {"pvc-over-d1", {{"sharedRoot", "data"}}, grpc::StatusCode::FAILED_PRECONDITION, "nest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (int attempt = 0; attempt < 2; ++attempt) {  // a retry is refused the same way
      grpc::Status s = Create(CreateRequest(c.name, c.params));
      EXPECT_EQ(s.error_code(), c.code) << s.error_message();
      EXPECT_NE(s.error_message().find(c.says), std::string::npos) << s.error_message();
      EXPECT_EQ(Listing(server_->export_dir(), {".nfsprov"}), data);
      EXPECT_EQ(Listing(Local(".nfsprov"), {"trash"}), metadata);
    }
  }
  EXPECT_EQ(Records(), (Keys{KeyForName("pvc-apps"), KeyForName("pvc-d1"), KeyForName("pvc-shared")}));
  EXPECT_EQ(ReadAll(Local("apps/app-data")), "exclusive");
}

}  // namespace
}  // namespace nfsprov::e2e
