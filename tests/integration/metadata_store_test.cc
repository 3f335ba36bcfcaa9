// MetadataStore and Reaper against a real nfs-ganesha: layout, records, claims, trash removal.
#include "provisioner/metadata_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "provisioner/object_id.h"
#include "provisioner/reaper.h"
#include "tests/support/delay_proxy.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/log_capture.h"
#include "tests/support/local_tree.h"
#include "tests/support/wait_for.h"

namespace nfsprov {
namespace {

using namespace std::chrono_literals;
using testing::GaneshaServer;

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    Status assert_ok_status_ = (expr);                                    \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

const char* const kLayoutDirs[] = {"/.nfsprov",        "/.nfsprov/volumes",
                                   "/.nfsprov/snapshots", "/.nfsprov/claims",
                                   "/.nfsprov/trash",  "/.nfsprov/archive"};

VolumeRecord SampleVolume(const std::string& name) {
  VolumeRecord r;
  r.name = name;
  r.key = KeyForName(name);
  r.path = "team/" + name;
  r.capacity_bytes = int64_t{5} << 30;
  r.parameters = {{"server", "nfs.example.com"}, {"subDir", "team/${pv.metadata.name}"}};
  r.layout = "subdir";
  r.content_source = "snapshot:nfsprov1|s|4|0|nfs.example.com|/export|abc";
  r.created_unix_ms = 1700000000123;
  r.state = VolumeState::kReady;
  return r;
}

SnapshotRecord SampleSnapshot(const std::string& name) {
  SnapshotRecord r;
  r.name = name;
  r.key = KeyForName(name);
  r.source_volume_id = "nfsprov1|v|4|0|nfs.example.com|/export|" + KeyForName("pv-1");
  r.source_key = KeyForName("pv-1");
  r.size_bytes = 123456789;
  r.created_unix_ms = 1700000000456;
  r.ready = true;
  return r;
}

bool Exists(const std::string& local) {
  struct stat st;
  return lstat(local.c_str(), &st) == 0;
}

void WriteLocal(const std::string& local, const std::string& content) {
  std::ofstream(local) << content;
}

// A record as the store writes it: a symlink whose target is the text.
void WriteLocalRecord(const std::string& local, const std::string& text) {
  std::filesystem::remove(local);
  std::filesystem::create_symlink(text, local);
}

using testing::WaitFor;

class MetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(testing::GaneshaOptions options) {
    auto server = GaneshaServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    client_ = Connect(server_->Url());
    ASSERT_NE(client_, nullptr);
    store_ = std::make_unique<MetadataStore>(client_);
  }

  std::shared_ptr<nfs::Client> Connect(const std::string& url) {
    nfs::ClientOptions options;
    options.call_timeout = 5000ms;
    options.rpc_timeout = 2s;
    auto client = nfs::Client::Connect(url, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::shared_ptr<nfs::Client>(std::move(client).value()) : nullptr;
  }

  std::string Local(const std::string& path) const { return server_->export_dir() + path; }

  std::unique_ptr<GaneshaServer> server_;
  std::shared_ptr<nfs::Client> client_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(MetadataStoreTest, EnsureLayoutCreatesPrivateDirectoriesIdempotently) {
  ASSERT_OK(store_->EnsureLayout());
  ASSERT_OK(store_->EnsureLayout());
  ASSERT_OK(MetadataStore(client_).EnsureLayout());  // a fresh store finds everything there
  for (const char* dir : kLayoutDirs) {
    struct stat st;
    ASSERT_EQ(stat(Local(dir).c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  }
}

TEST_F(MetadataStoreTest, EnsureLayoutIsSafeForConcurrentCallers) {
  constexpr int kThreads = 8;
  std::vector<Status> results(kThreads);
  std::latch ready(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      MetadataStore store(client_);  // its own store: every thread really creates
      ready.arrive_and_wait();
      results[i] = store.EnsureLayout();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  for (const char* dir : kLayoutDirs) EXPECT_TRUE(Exists(Local(dir))) << dir;
}

TEST_F(MetadataStoreTest, EnsureLayoutRemembersSuccess) {
  ASSERT_OK(store_->EnsureLayout());
  ASSERT_EQ(rmdir(Local("/.nfsprov/archive").c_str()), 0);
  ASSERT_OK(store_->EnsureLayout());
  EXPECT_FALSE(Exists(Local("/.nfsprov/archive"))) << "a second call went to the server";
  ASSERT_OK(MetadataStore(client_).EnsureLayout());
  EXPECT_TRUE(Exists(Local("/.nfsprov/archive")));
}

TEST_F(MetadataStoreTest, VolumeRecordRoundTrip) {
  VolumeRecord record = SampleVolume("pv-1");
  ASSERT_OK(store_->PutVolume(record));  // creates the layout on first use
  const std::string local = Local("/.nfsprov/volumes/" + record.key + ".json");
  struct stat st;
  ASSERT_EQ(lstat(local.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "records are symlinks holding JSON";
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(local, ec).string(), ToJson(record));

  auto got = store_->GetVolume(record.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, record);

  record.state = VolumeState::kCreating;
  record.capacity_bytes = 1;
  record.parameters.clear();
  ASSERT_OK(store_->PutVolume(record));
  got = store_->GetVolume(record.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, record);

  ASSERT_OK(store_->DeleteVolume(record.key));
  EXPECT_FALSE(Exists(local));
  got = store_->GetVolume(record.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
  ASSERT_OK(store_->DeleteVolume(record.key));  // missing: OK
}

TEST_F(MetadataStoreTest, CreateVolumeAtOnceMakesClaimDirectoryAndRecord) {
  VolumeRecord record = SampleVolume("pv-once");
  record.path = "pv-once";
  ASSERT_OK(store_->EnsureLayout());
  ASSERT_OK(store_->CreateVolumeAtOnce(record, 02775, std::nullopt, 3003));
  struct stat st;
  ASSERT_EQ(stat(Local("/pv-once").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u);
  EXPECT_EQ(st.st_gid, 3003u);
  EXPECT_EQ(store_->GetVolume(record.key).value(), record);
  EXPECT_EQ(store_->Claim("pv-once", KeyForName("someone-else")).value(), record.key);

  // Anything already there stops it: ABORTED (go step by step), nothing replaced.
  EXPECT_EQ(store_->CreateVolumeAtOnce(record, 0777, std::nullopt, std::nullopt).code(), StatusCode::kAborted);
  record.state = VolumeState::kCreating;
  EXPECT_EQ(store_->CreateVolumeAtOnce(record, 0777, std::nullopt, std::nullopt).code(),
            StatusCode::kInvalidArgument) << "the record is written last: it must say ready";
}

TEST_F(MetadataStoreTest, CreateVolumeAtOnceLeavesNothingBehindAForeignDirectory) {
  VolumeRecord record = SampleVolume("pv-foreign");
  record.path = "pv-foreign";
  ASSERT_OK(store_->EnsureLayout());
  ASSERT_EQ(mkdir(Local("/pv-foreign").c_str(), 0700), 0);
  EXPECT_EQ(store_->CreateVolumeAtOnce(record, 0777, std::nullopt, std::nullopt).code(),
            StatusCode::kAlreadyExists);
  EXPECT_FALSE(Exists(Local("/.nfsprov/claims/" + KeyForName("pv-foreign")))) << "claim released";
  EXPECT_FALSE(store_->GetVolume(record.key).value().has_value());
  struct stat st;
  ASSERT_EQ(stat(Local("/pv-foreign").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "the foreign directory was touched";
}

TEST_F(MetadataStoreTest, SnapshotRecordRoundTrip) {
  SnapshotRecord record = SampleSnapshot("snap-1");
  ASSERT_OK(store_->PutSnapshot(record));
  auto got = store_->GetSnapshot(record.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, record);

  record.ready = false;
  record.size_bytes = 0;
  ASSERT_OK(store_->PutSnapshot(record));
  got = store_->GetSnapshot(record.key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, record);

  ASSERT_OK(store_->DeleteSnapshot(record.key));
  EXPECT_FALSE(Exists(Local("/.nfsprov/snapshots/" + record.key + ".json")));
  ASSERT_OK(store_->DeleteSnapshot(record.key));
}

TEST_F(MetadataStoreTest, GetOfAMissingRecordIsNullopt) {
  const std::string key = KeyForName("never-created");
  auto volume = store_->GetVolume(key);  // before the layout exists
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_FALSE(volume->has_value());
  ASSERT_OK(store_->EnsureLayout());
  volume = store_->GetVolume(key);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_FALSE(volume->has_value());
  auto snapshot = store_->GetSnapshot(key);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_FALSE(snapshot->has_value());
}

TEST_F(MetadataStoreTest, CorruptRecordIsInternalNamingTheFile) {
  ASSERT_OK(store_->EnsureLayout());
  const std::string key = KeyForName("pv-corrupt");
  const std::string file = "/.nfsprov/volumes/" + key + ".json";
  WriteLocalRecord(Local(file), "{\"name\": \"pv-corrupt\", ");
  auto got = store_->GetVolume(key);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_NE(got.status().message().find("volume record " + file + " is not valid JSON"),
            std::string::npos)
      << got.status().message();

  const std::string snapshot_file = "/.nfsprov/snapshots/" + key + ".json";
  WriteLocalRecord(Local(snapshot_file), "{\"name\": 7}");
  auto snapshot = store_->GetSnapshot(key);
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kInternal);
  EXPECT_NE(snapshot.status().message().find("snapshot record " + snapshot_file),
            std::string::npos)
      << snapshot.status().message();
}

TEST_F(MetadataStoreTest, RecordWhoseKeyDoesNotMatchItsFileIsInternal) {
  VolumeRecord record = SampleVolume("pv-a");
  ASSERT_OK(store_->PutVolume(record));
  const std::string other = KeyForName("pv-b");
  ASSERT_EQ(rename(Local("/.nfsprov/volumes/" + record.key + ".json").c_str(),
                   Local("/.nfsprov/volumes/" + other + ".json").c_str()),
            0);
  auto got = store_->GetVolume(other);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInternal);
  EXPECT_NE(got.status().message().find("/.nfsprov/volumes/" + other + ".json"),
            std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find(record.key), std::string::npos) << got.status().message();
}

TEST_F(MetadataStoreTest, ListsAreSortedAndIgnoreEverythingButRecords) {
  auto empty = store_->ListVolumeKeys();  // no layout yet
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());

  std::vector<std::string> volume_keys, snapshot_keys;
  for (const char* name : {"pv-c", "pv-a", "pv-e", "pv-b", "pv-d"}) {
    ASSERT_OK(store_->PutVolume(SampleVolume(name)));
    volume_keys.push_back(KeyForName(name));
  }
  for (const char* name : {"snap-2", "snap-1"}) {
    ASSERT_OK(store_->PutSnapshot(SampleSnapshot(name)));
    snapshot_keys.push_back(KeyForName(name));
  }
  std::sort(volume_keys.begin(), volume_keys.end());
  std::sort(snapshot_keys.begin(), snapshot_keys.end());

  const std::string junk_key = KeyForName("junk");
  WriteLocal(Local("/.nfsprov/volumes/" + junk_key + ".json.nfsprov-tmp-00112233aabbccdd"), "{");
  WriteLocal(Local("/.nfsprov/volumes/not-a-key.json"), "{}");
  WriteLocal(Local("/.nfsprov/volumes/" + junk_key), "{}");
  WriteLocal(Local("/.nfsprov/volumes/README"), "hello");
  ASSERT_EQ(mkdir(Local("/.nfsprov/snapshots/" + snapshot_keys[0]).c_str(), 0700), 0);  // data

  auto volumes = store_->ListVolumeKeys();
  ASSERT_TRUE(volumes.ok()) << volumes.status().ToString();
  EXPECT_EQ(*volumes, volume_keys);
  auto snapshots = store_->ListSnapshotKeys();
  ASSERT_TRUE(snapshots.ok()) << snapshots.status().ToString();
  EXPECT_EQ(*snapshots, snapshot_keys);
}

TEST_F(MetadataStoreTest, ClaimIsExclusiveAndIdempotent) {
  const std::string a = KeyForName("pv-a"), b = KeyForName("pv-b");
  auto first = store_->Claim("team/data", a);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, a);
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(
                Local("/.nfsprov/claims/" + KeyForName("team/data")), ec).string(),
            a)
      << ec.message();

  auto second = store_->Claim("team/data", b);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, a);
  auto again = store_->Claim("team/data", a);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, a);
  auto elsewhere = store_->Claim("team/other", b);
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.status().ToString();
  EXPECT_EQ(*elsewhere, b);
}

TEST_F(MetadataStoreTest, ConcurrentClaimsHaveExactlyOneWinner) {
  ASSERT_OK(store_->EnsureLayout());
  constexpr int kThreads = 16;
  std::vector<std::string> keys;
  for (int i = 0; i < kThreads; ++i) keys.push_back(KeyForName("pv-" + std::to_string(i)));
  std::vector<Result<std::string>> owners(kThreads, Result<std::string>(Internal("not run")));
  std::latch ready(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      owners[i] = store_->Claim("shared/dir", keys[i]);
    });
  }
  for (auto& t : threads) t.join();

  int winners = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(owners[i].ok()) << owners[i].status().ToString();
    EXPECT_EQ(*owners[i], *owners[0]) << "thread " << i << " sees another owner";
    winners += *owners[i] == keys[i];
  }
  EXPECT_EQ(winners, 1);
}

TEST_F(MetadataStoreTest, ReleaseOnlyByTheOwner) {
  const std::string a = KeyForName("pv-a"), b = KeyForName("pv-b");
  const std::string link = Local("/.nfsprov/claims/" + KeyForName("team/data"));
  ASSERT_OK(store_->Release("team/data", a));  // nothing claimed yet: OK
  ASSERT_TRUE(store_->Claim("team/data", a).ok());

  ASSERT_OK(store_->Release("team/data", b));
  EXPECT_TRUE(Exists(link)) << "a non-owner released the claim";
  auto owner = store_->Claim("team/data", b);
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  EXPECT_EQ(*owner, a);

  ASSERT_OK(store_->Release("team/data", a));
  EXPECT_FALSE(Exists(link));
  ASSERT_OK(store_->Release("team/data", a));
  owner = store_->Claim("team/data", b);
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  EXPECT_EQ(*owner, b);
}

TEST_F(MetadataStoreTest, InvalidKeysAndPathsAreRejectedBeforeTheServer) {
  const std::string good = KeyForName("pv-1");
  for (const std::string& bad : {std::string(""), std::string("../../etc/passwd"),
                                 std::string(26, 'A'), good + "a", good.substr(1) + "1"}) {
    EXPECT_EQ(store_->GetVolume(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->GetSnapshot(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->DeleteVolume(bad).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->DeleteSnapshot(bad).code(), StatusCode::kInvalidArgument) << bad;
    VolumeRecord volume = SampleVolume("pv-1");
    volume.key = bad;
    EXPECT_EQ(store_->PutVolume(volume).code(), StatusCode::kInvalidArgument) << bad;
    SnapshotRecord snapshot = SampleSnapshot("snap-1");
    snapshot.key = bad;
    EXPECT_EQ(store_->PutSnapshot(snapshot).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Claim("team/data", bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Release("team/data", bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  for (const char* bad : {"", "/team", "team//data", "team/", "../x", ".nfsprov",
                          ".nfsprov/volumes"}) {
    EXPECT_EQ(store_->Claim(bad, good).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Release(bad, good).code(), StatusCode::kInvalidArgument) << bad;
    VolumeRecord volume = SampleVolume("pv-1");
    volume.path = bad;
    EXPECT_EQ(store_->PutVolume(volume).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(Exists(Local("/.nfsprov"))) << "an invalid call reached the server";
}

// --- Reaper -------------------------------------------------------------------------------

class ReaperTest : public MetadataStoreTest {
 protected:
  // A tree of nested directories and files in the trash, made on the export's local directory.
  testing::TreeCount Trash(const std::string& base, const std::string& name, int levels = 2) {
    testing::TreeShape shape;
    shape.fanout_dirs = 3;
    shape.levels = levels;
    shape.files_per_dir = 5;
    shape.chain_depth = 4;
    auto made = testing::MakeTree(base + "/.nfsprov/trash/" + name, shape);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.value_or({});
  }

  bool TrashEmpty() const {
    return std::filesystem::is_empty(Local("/.nfsprov/trash"));
  }
};

TEST_F(ReaperTest, RemovesEveryTrashEntryAndCountsThem) {
  ASSERT_OK(store_->EnsureLayout());
  for (const char* name : {"a", "b", "c"}) ASSERT_GT(Trash(server_->export_dir(), name).dirs, 1u);

  testing::LogCapture log;
  Reaper reaper(client_, 60s);
  EXPECT_EQ(reaper.reaped(), 0u);
  reaper.Start();
  EXPECT_TRUE(WaitFor([&] { return TrashEmpty(); }));
  EXPECT_TRUE(WaitFor([&] { return reaper.reaped() == 3; })) << reaper.reaped();
  EXPECT_EQ(reaper.backlog(), 0u);
  EXPECT_TRUE(Exists(Local("/.nfsprov/trash")));
  for (const char* name : {"\"a\"", "\"b\"", "\"c\""}) {
    EXPECT_EQ(log.Count({"removed", name, " ms"}), 1) << name;
  }
  reaper.Stop();
}

// Two controller replicas each run a reaper for the share they know (only the sidecars elect a
// leader): both walking the same trash at once must empty it without a failed entry.
TEST_F(ReaperTest, TwoReapersOnOneTrashEmptyItWithoutErrors) {
  ASSERT_OK(store_->EnsureLayout());
  for (const char* name : {"a", "b", "c", "d"}) ASSERT_GT(Trash(server_->export_dir(), name, 3).dirs, 1u);

  testing::LogCapture log;
  Reaper first(client_, 60s), second(Connect(server_->Url()), 60s);
  first.Start();
  second.Start();
  EXPECT_TRUE(WaitFor([&] { return TrashEmpty(); }));
  first.Stop();
  second.Stop();
  EXPECT_GE(first.reaped() + second.reaped(), 4u);
  EXPECT_EQ(log.Count({"could not remove"}), 0);
  EXPECT_EQ(log.Count({"cannot list"}), 0);
}

TEST_F(ReaperTest, WakeRunsARoundAtOnceAndStopIsPrompt) {
  ASSERT_OK(store_->EnsureLayout());
  Trash(server_->export_dir(), "first");
  Reaper reaper(client_, 60s);
  reaper.Start();
  ASSERT_TRUE(WaitFor([&] { return reaper.reaped() == 1; }));

  Trash(server_->export_dir(), "second");
  reaper.Wake();
  EXPECT_TRUE(WaitFor([&] { return reaper.reaped() == 2; }, 5s)) << "Wake did not start a round";
  EXPECT_TRUE(TrashEmpty());

  const auto start = std::chrono::steady_clock::now();
  reaper.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  reaper.Stop();  // idempotent
}

TEST_F(ReaperTest, StopWhileRemovingFinishesTheEntryAndStartsNoOther) {
  ASSERT_OK(store_->EnsureLayout());
  // A deep chain through a 5 ms link: removing "a" takes well over a second (each level is a
  // READDIR then a REMOVE, one after the other), long enough to stop the reaper during it.
  testing::TreeShape slow;
  slow.fanout_dirs = 0;
  slow.files_per_dir = 1;
  slow.chain_depth = 60;
  auto made = testing::MakeTree(Local("/.nfsprov/trash/a"), slow);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const uint64_t small = Trash(server_->export_dir(), "b").entries();
  ASSERT_EQ(Trash(server_->export_dir(), "c").entries(), small);
  auto entries = [&](const std::string& name) {
    auto count = testing::CountTree(Local("/.nfsprov/trash/" + name));
    return count.ok() ? count->entries() : 0;
  };
  auto proxy = testing::DelayProxy::Start(server_->port(), 5ms);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  auto delayed = Connect("nfs://127.0.0.1/export?version=4&nfsport=" +
                         std::to_string((*proxy)->port()));
  ASSERT_NE(delayed, nullptr);

  auto reaper = std::make_unique<Reaper>(delayed, 60s);
  reaper->Start();
  ASSERT_TRUE(WaitFor([&] { return entries("a") < made->entries(); }, 5s));
  ASSERT_GT(entries("a"), 0u) << "removal of \"a\" was not caught in progress";
  reaper->Stop();
  EXPECT_FALSE(Exists(Local("/.nfsprov/trash/a"))) << "the removal in progress was cut short";
  EXPECT_EQ(entries("b"), small) << "an entry was started after Stop";
  EXPECT_EQ(entries("c"), small) << "an entry was started after Stop";
  EXPECT_EQ(reaper->reaped(), 1u);
  EXPECT_EQ(reaper->backlog(), 2u);

  // The trash lives on the share: after a server restart a new reaper finishes the job.
  reaper.reset();
  ASSERT_OK(server_->Restart());
  auto client = Connect(server_->Url());
  ASSERT_NE(client, nullptr);
  Reaper next(client, 60s);
  next.Start();
  EXPECT_TRUE(WaitFor([&] { return TrashEmpty(); }));
  EXPECT_TRUE(WaitFor([&] { return next.reaped() == 2; })) << next.reaped();
  EXPECT_EQ(next.backlog(), 0u);
}

TEST_F(ReaperTest, AnEntryThatCannotBeRemovedIsRetriedAndLoggedOnce) {
  testing::GaneshaOptions options;
  options.root_squash_export = true;
  server_.reset();
  StartServer(options);
  // Through the root-squashed export the reaper is "nobody": it may empty the world-writable
  // trash, but not the root-owned 0755 directory "stuck".
  const std::string base = server_->squashed_dir();
  for (const char* dir : {"/.nfsprov", "/.nfsprov/trash"}) {
    ASSERT_EQ(mkdir((base + dir).c_str(), 0777), 0);
    ASSERT_EQ(chmod((base + dir).c_str(), 0777), 0);  // past the umask
  }
  ASSERT_EQ(mkdir((base + "/.nfsprov/trash/stuck").c_str(), 0755), 0);
  WriteLocal(base + "/.nfsprov/trash/stuck/file", "x");
  ASSERT_EQ(mkdir((base + "/.nfsprov/trash/open").c_str(), 0777), 0);
  ASSERT_EQ(chmod((base + "/.nfsprov/trash/open").c_str(), 0777), 0);
  WriteLocal(base + "/.nfsprov/trash/open/file", "x");

  testing::LogCapture log;
  auto squashed = Connect(server_->SquashedUrl());
  ASSERT_NE(squashed, nullptr);
  Reaper reaper(squashed, 30ms);
  reaper.Start();
  ASSERT_TRUE(WaitFor([&] { return reaper.reaped() == 1; })) << reaper.reaped();
  std::this_thread::sleep_for(500ms);  // many more rounds
  EXPECT_EQ(reaper.reaped(), 1u);
  EXPECT_EQ(reaper.backlog(), 1u);
  EXPECT_TRUE(Exists(base + "/.nfsprov/trash/stuck/file"));
  EXPECT_FALSE(Exists(base + "/.nfsprov/trash/open"));
  EXPECT_EQ(log.Count({"could not remove", "\"stuck\"", "Permission denied"}), 1);

  ASSERT_EQ(chmod((base + "/.nfsprov/trash/stuck").c_str(), 0777), 0);
  reaper.Wake();
  EXPECT_TRUE(WaitFor([&] { return reaper.backlog() == 0; })) << reaper.backlog();
  EXPECT_EQ(reaper.reaped(), 2u);
  EXPECT_FALSE(Exists(base + "/.nfsprov/trash/stuck"));
  EXPECT_EQ(log.Count({"removed", "\"stuck\""}), 1);
  reaper.Stop();
}

}  // namespace
}  // namespace nfsprov
