// `nfsprov volumes`, the real binary, against a real nfs-ganesha on which a Controller made
// volumes (exclusive, shared root, retained then deleted) and the test added what a crash or a
// person leaves behind (a stray directory, claim, root reference, usage record, trash entry, a
// malformed record). Checks every JSON field, the table, exit status 2 for an unreachable server,
// and that the command changes nothing on the share.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/integration/share_test.h"
#include "tests/support/run_command.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

using testing::CommandResult;

// Runs the nfsprov binary with `args`, split at spaces (so none may hold one).
CommandResult RunNfsprov(const std::string& args) {
  std::vector<std::string> argv = {NFSPROV_BINARY};
  std::istringstream words(args);
  for (std::string word; words >> word;) argv.push_back(word);
  return testing::RunCommand(argv);
}

// Everything about the exported tree a write could change (atime aside: reads may set it).
// Walked by hand with lstat: records are symlinks whose targets are JSON, which the standard
// recursive iterator would try to stat.
void SnapshotInto(const std::string& root, const std::string& relative, std::map<std::string, std::string>& tree) {
  for (const fs::directory_entry& entry : fs::directory_iterator(root + "/" + relative)) {
    const std::string path = relative.empty() ? entry.path().filename().string()
                                              : relative + "/" + entry.path().filename().string();
    struct stat st {};
    EXPECT_EQ(::lstat(entry.path().c_str(), &st), 0) << entry.path();
    std::ostringstream line;
    line << st.st_mode << " " << st.st_uid << ":" << st.st_gid << " " << st.st_size << " " << st.st_ino << " "
         << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " " << st.st_ctim.tv_sec << "." << st.st_ctim.tv_nsec;
    if (S_ISLNK(st.st_mode)) {
      line << " -> " << fs::read_symlink(entry.path()).string();
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(entry.path(), std::ios::binary);
      line << " " << std::string(std::istreambuf_iterator<char>(in), {});
    }
    tree[path] = line.str();
    if (S_ISDIR(st.st_mode)) SnapshotInto(root, path, tree);
  }
}

std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> tree;
  SnapshotInto(root, "", tree);
  return tree;
}

class VolumesCommandTest : public ShareTest {
 protected:

  std::string ShareFlags() const { return "--server 127.0.0.1 --share /export --port " + std::to_string(server_->port()); }
};

TEST_F(VolumesCommandTest, ReportsVolumesRootsOrphansAndTrashWithoutWriting) {
  {
    Controller controller(ControllerOptions{});
    auto create = [&](const CreateVolumeArgs& args) {
      auto volume = controller.CreateVolume(args);
      EXPECT_TRUE(volume.ok()) << args.name << ": " << volume.status().ToString();
      return volume.ok() ? *volume : Volume{};
    };
    create(Args("pv-a", 10 * kMiB, {{"subDir", "ns/a"}}));
    create(Args("pv-api", kGiB, {{"sharedRoot", "api"}}));
    create(Args("pv-plugins", 2 * kGiB, {{"sharedRoot", "api"}, {"subDir", "plugins"}, {"quotaEnforcement", "readonly"}}));
    create(Args("pv-b", 0, {{"onDelete", "archive"}}));
    Volume kept = create(Args("pv-kept", kMiB, {{"subDir", "kept"}, {"onDelete", "retain"}}));
    ASSERT_TRUE(controller.DeleteVolume(kept.id).ok());
  }  // the controller's usage scanner and reaper stop here: nothing else writes from now on

  // What a crash or a person leaves behind, made over NFS like the driver's own writes.
  auto connected = nfs::Client::Connect(server_->Url());
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::shared_ptr<nfs::Client> client = std::move(connected).value();
  MetadataStore store(client);
  for (const char* name : {"pv-a", "pv-api", "pv-plugins", "pv-b"}) ASSERT_TRUE(store.DeleteUsage(KeyForName(name)).ok());
  UsageRecord usage{"pv-a", KeyForName("pv-a"), "ns/a", 10 * kMiB, 20 * kMiB, 42, 1'700'000'000'000, 3};
  ASSERT_TRUE(store.PutUsage(usage).ok());
  ASSERT_TRUE(store.PutUsage({"pv-gone", KeyForName("pv-gone"), "gone", 0, 1, 1, 1, 1}).ok());
  ASSERT_TRUE(client->Mkdir("/stray", 0755).ok());
  ASSERT_TRUE(client->Mkdir("/ns/old", 0755).ok());
  ASSERT_TRUE(client->Symlink(KeyForName("pv-ghost"), MetadataStore::ClaimPath("ghost")).ok());
  ASSERT_TRUE(store.AddRootRef("api", KeyForName("pv-lost")).ok());
  const std::string trash_entry = KeyForName("pv-trashed") + ".1234";
  ASSERT_TRUE(client->Mkdir(MetadataStore::TrashDir() + "/" + trash_entry, 0700).ok());
  ASSERT_TRUE(client->Symlink("{not json", MetadataStore::VolumeRecordPath(KeyForName("pv-broken"))).ok());
  client.reset();

  const std::map<std::string, std::string> before = Snapshot(server_->export_dir());
  CommandResult json_run = RunNfsprov("volumes " + ShareFlags() + " --output json");
  CommandResult table_run = RunNfsprov("volumes " + ShareFlags());
  EXPECT_EQ(Snapshot(server_->export_dir()), before) << "nfsprov volumes changed the share";

  ASSERT_EQ(json_run.exit_code, 0) << json_run.err;
  nlohmann::json j = nlohmann::json::parse(json_run.out);
  EXPECT_EQ(j["share"], (nlohmann::json{{"server", "127.0.0.1"}, {"export", "/export"},
                                        {"port", server_->port()}, {"nfs_version", 4}}));
  const int64_t now = j["now_unix_ms"].get<int64_t>();

  ASSERT_EQ(j["volumes"].size(), 4u) << j["volumes"].dump(2);
  std::vector<std::string> paths;
  for (const auto& v : j["volumes"]) paths.push_back(v["path"]);
  EXPECT_THAT(paths, ::testing::ElementsAre("api", "api/plugins", "ns/a", "pv-b"));
  for (const auto& v : j["volumes"]) {
    EXPECT_EQ(v["key"], KeyForName(v["name"].get<std::string>()));
    EXPECT_EQ(v["state"], "ready");
    EXPECT_GT(v["created_unix_ms"].get<int64_t>(), now - 600'000);
    EXPECT_EQ(v["age_ms"].get<int64_t>(), now - v["created_unix_ms"].get<int64_t>());
    EXPECT_GE(v["age_ms"].get<int64_t>(), 0);
  }
  const nlohmann::json& api = j["volumes"][0];
  EXPECT_EQ(api["name"], "pv-api");
  EXPECT_EQ(api["layout"], "shared");
  EXPECT_EQ(api["shared_root"], "api");
  EXPECT_EQ(api["capacity_bytes"], kGiB);
  EXPECT_TRUE(api["usage"].is_null());
  EXPECT_EQ(api["over_quota"], false);
  EXPECT_EQ(api["on_delete"], "retain");
  EXPECT_EQ(api["quota_enforcement"], "report");
  const nlohmann::json& plugins = j["volumes"][1];
  EXPECT_EQ(plugins["name"], "pv-plugins");
  EXPECT_EQ(plugins["shared_root"], "api");
  EXPECT_EQ(plugins["capacity_bytes"], 2 * kGiB);
  EXPECT_EQ(plugins["quota_enforcement"], "readonly");
  const nlohmann::json& a = j["volumes"][2];
  EXPECT_EQ(a["name"], "pv-a");
  EXPECT_EQ(a["layout"], "subdir");
  EXPECT_TRUE(a["shared_root"].is_null());
  EXPECT_EQ(a["capacity_bytes"], 10 * kMiB);
  EXPECT_EQ(a["usage"], (nlohmann::json{{"used_bytes", 20 * kMiB}, {"used_inodes", 42}, {"quota_bytes", 10 * kMiB},
                                        {"scanned_unix_ms", 1'700'000'000'000}}));
  EXPECT_EQ(a["over_quota"], true);
  EXPECT_EQ(a["on_delete"], "delete");
  const nlohmann::json& b = j["volumes"][3];
  EXPECT_EQ(b["name"], "pv-b");
  EXPECT_EQ(b["capacity_bytes"], 0);
  EXPECT_EQ(b["on_delete"], "archive");

  std::vector<std::string> api_refs = {KeyForName("pv-api"), KeyForName("pv-plugins"), KeyForName("pv-lost")};
  std::sort(api_refs.begin(), api_refs.end());
  EXPECT_EQ(j["roots"], nlohmann::json::array({nlohmann::json{
                            {"path", "api"}, {"refs", api_refs}, {"ref_count", 3}, {"teardown", nullptr}}}));

  std::map<std::string, std::string> orphans;  // "kind name" -> reason
  for (const auto& o : j["orphans"]) orphans[o["kind"].get<std::string>() + " " + o["name"].get<std::string>()] = o["reason"];
  std::vector<std::string> orphan_ids;
  for (const auto& [id, reason] : orphans) orphan_ids.push_back(id);
  EXPECT_THAT(orphan_ids, ::testing::UnorderedElementsAre(
                              "directory kept", "directory ns/old", "directory stray",
                              "claim " + KeyForName("ghost"),
                              "root-reference " + KeyForName("api") + "/" + KeyForName("pv-lost"),
                              "usage " + KeyForName("pv-gone")));
  EXPECT_THAT(orphans["claim " + KeyForName("ghost")], HasSubstr(KeyForName("pv-ghost") + ", which has no record"));
  EXPECT_THAT(orphans["root-reference " + KeyForName("api") + "/" + KeyForName("pv-lost")], HasSubstr("shared root api"));
  EXPECT_EQ(j["trash"], nlohmann::json::array({trash_entry}));
  ASSERT_EQ(j["problems"].size(), 1u);
  EXPECT_EQ(j["problems"][0]["kind"], "volume record");
  EXPECT_EQ(j["problems"][0]["key"], KeyForName("pv-broken"));
  EXPECT_THAT(j["problems"][0]["message"].get<std::string>(), HasSubstr("not valid JSON"));
  EXPECT_EQ(j["summary"], (nlohmann::json{{"volumes", 4},
                                          {"provisioned_bytes", 2 * kGiB + 10 * kMiB},
                                          {"measured_bytes", 20 * kMiB},
                                          {"orphans", 6}}));

  ASSERT_EQ(table_run.exit_code, 0) << table_run.err;
  for (const char* path : {"\napi ", "\napi/plugins ", "\nns/a ", "\npv-b "}) EXPECT_THAT(table_run.out, HasSubstr(path));
  EXPECT_THAT(table_run.out, HasSubstr("20 MiB (over quota)"));
  EXPECT_THAT(table_run.out, HasSubstr("\nstray "));
  EXPECT_THAT(table_run.out, ::testing::EndsWith("\n4 volumes, 2.0 GiB provisioned, 20 MiB measured, 6 orphans\n"));
}

TEST_F(VolumesCommandTest, AnUnreachableServerIsExitTwoNamingIt) {
  const int port = *testing::PickFreePort();
  CommandResult run = RunNfsprov("volumes --server 127.0.0.1 --share /export --port " + std::to_string(port) +
                                 " --nfs-timeout 2 --output json");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_THAT(run.err, HasSubstr("nfs://127.0.0.1:" + std::to_string(port) + "/export"));
  EXPECT_THAT(run.err, HasSubstr("cannot reach"));
}

TEST_F(VolumesCommandTest, AShareWithNothingOnItIsAnEmptyReport) {
  CommandResult run = RunNfsprov("volumes " + ShareFlags() + " --output json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_TRUE(j["volumes"].empty());
  EXPECT_TRUE(j["orphans"].empty());
  EXPECT_FALSE(fs::exists(server_->export_dir() + "/.nfsprov")) << "the report created the driver's area";
}

}  // namespace
}  // namespace nfsprov
