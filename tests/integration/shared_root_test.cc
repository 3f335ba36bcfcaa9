// Shared roots through the Controller against a real nfs-ganesha: reference counting, onDelete at
// the last reference only, adoption, nesting refusals, read-only classes, states a crash leaves
// (seeded here; e2e/layouts_e2e_test.cc kills a real controller), and concurrent creates and
// deletes on one root.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/integration/share_test.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SharedRootTest : public ShareTest {
 protected:
  void SetUp() override {
    ShareTest::SetUp();
    if (HasFatalFailure()) return;
    controller_ = std::make_unique<Controller>(ControllerOptions{});
  }

  CreateVolumeArgs Args(const std::string& name, const std::map<std::string, std::string>& extra) const {
    return ShareTest::Args(name, 0, extra);
  }

  Volume MustCreate(const CreateVolumeArgs& args) {
    auto volume = controller_->CreateVolume(args);
    EXPECT_TRUE(volume.ok()) << args.name << ": " << volume.status().ToString();
    return volume.ok() ? *volume : Volume{};
  }

  MetadataStore& Store() {
    auto share = controller_->shares().Get(share_);
    EXPECT_TRUE(share.ok()) << share.status().ToString();
    store_handle_ = *share;
    return *store_handle_.store;
  }

  std::vector<std::string> Refs(const std::string& root) {
    auto refs = Store().RootRefs(root);
    EXPECT_TRUE(refs.ok()) << refs.status().ToString();
    return refs.ok() ? *refs : std::vector<std::string>{};
  }

  static std::vector<std::string> KeysOf(std::initializer_list<std::string> names) {
    std::vector<std::string> keys;
    for (const std::string& name : names) keys.push_back(KeyForName(name));
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  // Everything under the export but the driver's area: what a refused call must leave unchanged.
  std::set<std::string> Tree() const {
    std::set<std::string> tree;
    for (auto it = fs::recursive_directory_iterator(server_->export_dir()); it != fs::recursive_directory_iterator(); ++it) {
      if (it->path().filename() == ".nfsprov") {
        it.disable_recursion_pending();
        continue;
      }
      tree.insert(fs::relative(it->path(), server_->export_dir()).string());
    }
    return tree;
  }

  std::unique_ptr<Controller> controller_;
  ShareHandle store_handle_;
};

TEST_F(SharedRootTest, VolumesOfOneRootShareItsDirectory) {
  Volume a = MustCreate(Args("pv-a", {{"sharedRoot", "api"}, {"mountPermissions", "0770"}}));
  Volume b = MustCreate(Args("pv-b", {{"sharedRoot", "api"}, {"mountPermissions", "0770"}}));
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.context["subDir"], "api");
  EXPECT_EQ(b.context["subDir"], "api");
  EXPECT_EQ(a.record.layout, "shared");
  EXPECT_EQ(a.record.shared_root, "api");
  EXPECT_EQ(fs::status(Local("api")).permissions() & fs::perms::all, static_cast<fs::perms>(0770));
  EXPECT_EQ(Refs("api"), KeysOf({"pv-a", "pv-b"}));
  // Idempotent: the same call again is the same volume and no second reference.
  Volume again = MustCreate(Args("pv-a", {{"sharedRoot", "api"}, {"mountPermissions", "0770"}}));
  EXPECT_EQ(again.id, a.id);
  EXPECT_EQ(Refs("api"), KeysOf({"pv-a", "pv-b"}));
  // Different parameters under one name: another volume, refused.
  EXPECT_EQ(controller_->CreateVolume(Args("pv-a", {{"sharedRoot", "other"}})).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_F(SharedRootTest, SubDirIsMadeInsideTheRootAndReadOnlyReachesTheNode) {
  MustCreate(Args("pv-api", {{"sharedRoot", "api"}}));
  std::ofstream(Local("api/state")) << "kept";
  CreateVolumeArgs plugins = Args("pv-plugins", {{"sharedRoot", "api"}, {"subDir", "plugins"}, {"readOnly", "true"}});
  plugins.writer_access_mode = "MULTI_NODE_MULTI_WRITER";
  auto refused = controller_->CreateVolume(plugins);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("readOnly"));
  EXPECT_THAT(refused.status().message(), HasSubstr("MULTI_NODE_MULTI_WRITER"));
  EXPECT_FALSE(fs::exists(Local("api/plugins")));

  plugins.writer_access_mode = "";
  Volume reader = MustCreate(plugins);
  EXPECT_EQ(reader.context["subDir"], "api/plugins");
  EXPECT_EQ(reader.context["readOnly"], "true");
  EXPECT_TRUE(fs::is_directory(Local("api/plugins")));
  EXPECT_TRUE(fs::exists(Local("api/state")));
  EXPECT_EQ(Refs("api"), KeysOf({"pv-api", "pv-plugins"}));
}

TEST_F(SharedRootTest, DataStaysWhileReferencedAndOnDeleteAppliesAtTheLast) {
  auto args = [&](const std::string& name) { return Args(name, {{"sharedRoot", "jobs"}, {"onDelete", "delete"}}); };
  Volume a = MustCreate(args("pv-a"));
  Volume b = MustCreate(args("pv-b"));
  Volume c = MustCreate(Args("pv-c", {{"sharedRoot", "jobs"}, {"subDir", "plugins"}, {"onDelete", "delete"}}));
  std::ofstream(Local("jobs/data")) << "precious";
  ASSERT_TRUE(controller_->DeleteVolume(b.id).ok());
  EXPECT_TRUE(fs::exists(Local("jobs/data")));
  ASSERT_TRUE(controller_->DeleteVolume(c.id).ok());  // the subDir volume: its directory is root data
  EXPECT_TRUE(fs::exists(Local("jobs/plugins")));
  EXPECT_EQ(Refs("jobs"), KeysOf({"pv-a"}));
  ASSERT_TRUE(controller_->DeleteVolume(b.id).ok());  // again: idempotent, no effect on the others
  EXPECT_TRUE(fs::exists(Local("jobs/data")));
  ASSERT_TRUE(controller_->DeleteVolume(a.id).ok());
  EXPECT_FALSE(fs::exists(Local("jobs")));
  EXPECT_TRUE(Refs("jobs").empty());
  EXPECT_FALSE(Store().ClaimOwner("jobs")->has_value());
  // The next volume of the class starts a new, empty root.
  MustCreate(args("pv-d"));
  EXPECT_TRUE(fs::is_empty(Local("jobs")));
}

TEST_F(SharedRootTest, RetainedRootIsAdoptedAgainWithItsData) {
  Volume a = MustCreate(Args("pv-old", {{"sharedRoot", "state"}}));  // onDelete defaults to retain
  std::ofstream(Local("state/db")) << "survives";
  ASSERT_TRUE(controller_->DeleteVolume(a.id).ok());
  EXPECT_TRUE(fs::exists(Local("state/db")));
  EXPECT_FALSE(Store().ClaimOwner("state")->has_value());
  // A whole new driver with no records at all (the cluster was rebuilt).
  fs::remove_all(Local(".nfsprov"));
  controller_ = std::make_unique<Controller>(ControllerOptions{});
  MustCreate(Args("pv-new", {{"sharedRoot", "state"}, {"mountPermissions", "0700"}}));
  std::ifstream in(Local("state/db"));
  std::string text;
  in >> text;
  EXPECT_EQ(text, "survives");
  // Adopted as it is: the class's mode applies only to a root it creates.
  EXPECT_NE(fs::status(Local("state")).permissions() & fs::perms::all, static_cast<fs::perms>(0700));
}

TEST_F(SharedRootTest, ArchiveMovesTheRootAside) {
  Volume a = MustCreate(Args("pv-a", {{"sharedRoot", "team/cache"}, {"onDelete", "archive"}}));
  std::ofstream(Local("team/cache/f")) << "x";
  ASSERT_TRUE(controller_->DeleteVolume(a.id).ok());
  EXPECT_FALSE(fs::exists(Local("team")));  // the empty parent goes too
  EXPECT_TRUE(fs::exists(Local(".nfsprov/archive/team/cache." + KeyForName("pv-a") + "/f")));
}

TEST_F(SharedRootTest, VolumesNeverNest) {
  Volume exclusive = MustCreate(Args("pv-apps", {{"subDir", "apps"}}));
  MustCreate(Args("pv-root", {{"sharedRoot", "shared/api"}}));
  const std::set<std::string> before = Tree();
  auto expect_refused = [&](const CreateVolumeArgs& args, const std::string& words) {
    auto refused = controller_->CreateVolume(args);
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << args.name << ": " << refused.status().ToString();
    EXPECT_THAT(refused.status().message(), HasSubstr(words)) << args.name;
    auto record = Store().GetVolume(KeyForName(args.name));
    ASSERT_TRUE(record.ok());
    EXPECT_FALSE(record->has_value()) << args.name << ": a refused volume left its record";
  };
  expect_refused(Args("pv-1", {{"sharedRoot", "apps/x"}}), "inside apps, the directory of volume key");
  expect_refused(Args("pv-2", {{"sharedRoot", "apps"}}), "an exclusive volume");
  expect_refused(Args("pv-3", {{"subDir", "shared/api/x"}}), "inside shared/api, the directory of a shared root");
  expect_refused(Args("pv-4", {{"subDir", "apps/y/z"}}), "inside apps");
  expect_refused(Args("pv-5", {{"sharedRoot", "shared"}}), "would contain shared/api");
  expect_refused(Args("pv-6", {{"sharedRoot", "shared/api/inner"}}), "a shared root");
  fs::create_directories(Local("scratch/.nfsprov/volumes"));  // a share nested in this one
  expect_refused(Args("pv-7", {{"sharedRoot", "scratch"}}), "a share of its own");
  fs::remove_all(Local("scratch"));
  EXPECT_EQ(Tree(), before);
  EXPECT_EQ(Refs("apps/x"), std::vector<std::string>{});
  EXPECT_EQ(Refs("shared"), std::vector<std::string>{});
  EXPECT_EQ(Refs("shared/api"), KeysOf({"pv-root"}));
  // The exclusive volume is untouched and still deletes normally.
  EXPECT_TRUE(controller_->DeleteVolume(exclusive.id).ok());
}

// Both may be refused at the racing moment (each can see the other's claim or directory, which
// a refused create then takes back); never may both exist, and a retry of each settles on one.
TEST_F(SharedRootTest, RacingCreatesAtAPathAndInsideItNeverBothSucceed) {
  for (int round = 0; round < 20; ++round) {
    const std::string outer = "race" + std::to_string(round);
    const CreateVolumeArgs inner_args = Args("pv-in-" + outer, {{"subDir", outer + "/in"}});
    const CreateVolumeArgs outer_args = round % 2 == 0 ? Args("pv-" + outer, {{"subDir", outer}})
                                                       : Args("pv-" + outer, {{"sharedRoot", outer}});
    Result<Volume> inner_made = Internal("not run"), outer_made = Internal("not run");
    std::thread inner([&] { inner_made = controller_->CreateVolume(inner_args); });
    std::thread whole([&] { outer_made = controller_->CreateVolume(outer_args); });
    inner.join();
    whole.join();
    EXPECT_FALSE(inner_made.ok() && outer_made.ok()) << outer << ": both volumes exist, one inside the other";
    if (!inner_made.ok()) {
      EXPECT_FALSE(fs::exists(Local(outer + "/in"))) << outer;
    }
    if (!inner_made.ok()) inner_made = controller_->CreateVolume(inner_args);
    if (!outer_made.ok()) outer_made = controller_->CreateVolume(outer_args);
    EXPECT_NE(inner_made.ok(), outer_made.ok())
        << outer << ": " << inner_made.status().ToString() << " / " << outer_made.status().ToString();
    const Status& refused = inner_made.ok() ? outer_made.status() : inner_made.status();
    EXPECT_THAT(refused.message(), HasSubstr("volumes cannot nest")) << outer;
  }
}

TEST_F(SharedRootTest, ContentSourcesAreRefused) {
  Volume source = MustCreate(Args("pv-src", {}));
  CreateVolumeArgs args = Args("pv-clone", {{"sharedRoot", "api"}});
  args.source = {ContentSource::Kind::kVolume, source.id};
  auto refused = controller_->CreateVolume(args);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("shared root"));
  EXPECT_FALSE(fs::exists(Local("api")));
}

// --- states a crash leaves (the order of the steps guarantees no others) ---

TEST_F(SharedRootTest, CreateResumesAfterTheReferenceWasMade) {
  MustCreate(Args("pv-a", {{"sharedRoot", "api"}}));
  VolumeRecord record;  // pv-b crashed after its reference, before ready
  record.name = "pv-b";
  record.key = KeyForName("pv-b");
  record.path = "api";
  record.layout = "shared";
  record.shared_root = "api";
  record.parameters = Args("pv-b", {{"sharedRoot", "api"}}).parameters;
  ASSERT_TRUE(Store().PutVolume(record).ok());
  ASSERT_TRUE(Store().AddRootRef("api", record.key).ok());
  Volume b = MustCreate(Args("pv-b", {{"sharedRoot", "api"}}));
  EXPECT_EQ(b.record.state, VolumeState::kReady);
  EXPECT_EQ(Refs("api"), KeysOf({"pv-a", "pv-b"}));
}

TEST_F(SharedRootTest, CreatesWaitForATeardownInProgressAndDeleteResumesIt) {
  Volume a = MustCreate(Args("pv-a", {{"sharedRoot", "api"}, {"onDelete", "delete"}}));
  std::ofstream(Local("api/old")) << "x";
  // pv-a's deletion crashed after it dropped the last reference and set the mark.
  ASSERT_TRUE(Store().RemoveRootRef("api", a.record.key).ok());
  ASSERT_EQ(*Store().MarkTeardown("api", a.record.key), a.record.key);
  ASSERT_TRUE(*Store().DropRootRefsIfEmpty("api"));
  auto waiting = controller_->CreateVolume(Args("pv-b", {{"sharedRoot", "api"}, {"onDelete", "delete"}}));
  EXPECT_EQ(waiting.status().code(), StatusCode::kAborted);
  EXPECT_THAT(waiting.status().message(), HasSubstr("pv-a"));
  EXPECT_TRUE(fs::exists(Local("api/old")));
  // pv-b's reference now keeps the root: the resumed deletion finds it and keeps the data.
  ASSERT_TRUE(controller_->DeleteVolume(a.id).ok());
  EXPECT_TRUE(fs::exists(Local("api/old")));
  MustCreate(Args("pv-b", {{"sharedRoot", "api"}, {"onDelete", "delete"}}));
  EXPECT_EQ(Refs("api"), KeysOf({"pv-b"}));
  EXPECT_FALSE(Store().TeardownOwner("api")->has_value());
}

TEST_F(SharedRootTest, DeleteResumesAfterTheRootWasMovedAndAStaleMarkIsCleared) {
  Volume a = MustCreate(Args("pv-a", {{"sharedRoot", "api"}, {"onDelete", "delete"}}));
  // Crashed after moving the root to the trash, before releasing the claim.
  ASSERT_TRUE(Store().RemoveRootRef("api", a.record.key).ok());
  ASSERT_EQ(*Store().MarkTeardown("api", a.record.key), a.record.key);
  ASSERT_TRUE(*Store().DropRootRefsIfEmpty("api"));
  fs::rename(Local("api"), Local(".nfsprov/trash/manual"));
  ASSERT_TRUE(controller_->DeleteVolume(a.id).ok());
  EXPECT_FALSE(Store().ClaimOwner("api")->has_value());
  EXPECT_FALSE(Store().TeardownOwner("api")->has_value());
  // A mark whose volume no longer exists blocks nobody.
  ASSERT_EQ(*Store().MarkTeardown("api", KeyForName("pv-gone")), KeyForName("pv-gone"));
  MustCreate(Args("pv-b", {{"sharedRoot", "api"}}));
  EXPECT_FALSE(Store().TeardownOwner("api")->has_value());
}

TEST_F(SharedRootTest, ConcurrentCreatesAndDeletesKeepTheCountExact) {
  constexpr int kVolumes = 24;
  auto args = [&](int i) { return Args("pv-" + std::to_string(i), {{"sharedRoot", "hot"}, {"onDelete", "delete"}}); };
  std::vector<std::string> ids(kVolumes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kVolumes; ++i)
    threads.emplace_back([&, i] { ids[i] = MustCreate(args(i)).id; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(Refs("hot").size(), static_cast<std::size_t>(kVolumes));
  std::ofstream(Local("hot/data")) << "x";
  threads.clear();
  // Delete the even ones while creating them again under new names.
  for (int i = 0; i < kVolumes; i += 2) {
    threads.emplace_back([&, i] { EXPECT_TRUE(controller_->DeleteVolume(ids[i]).ok()); });
    threads.emplace_back([&, i] { MustCreate(args(kVolumes + i)); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Refs("hot").size(), static_cast<std::size_t>(kVolumes));
  EXPECT_TRUE(fs::exists(Local("hot/data")));
}

}  // namespace
}  // namespace nfsprov
