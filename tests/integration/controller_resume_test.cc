// A CreateVolume that resumes after a crash adopts only what is provably its own or harmless:
// never a foreign directory with data in it. The states seeded here are those a crash (or a
// failed request) leaves at each point: of the step-by-step create (record "creating" and
// claim), and of the one-request create (claim only; claim and directory).
#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "nfs/tree.h"
#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/integration/share_test.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;

class ControllerResumeTest : public ShareTest {
 protected:
  void SetUp() override {
    ShareTest::SetUp();
    if (HasFatalFailure()) return;
    controller_ = std::make_unique<Controller>(ControllerOptions{});
  }

  // What a controller that crashed right after claiming the directory leaves behind.
  void LeaveCrashedCreation(const std::string& name, const std::string& source = "") {
    auto share = controller_->shares().Get(share_);
    ASSERT_TRUE(share.ok()) << share.status().ToString();
    VolumeRecord record;
    record.name = name;
    record.key = KeyForName(name);
    record.path = name;
    record.parameters = Args(name).parameters;
    record.content_source = source;
    record.state = VolumeState::kCreating;
    ASSERT_TRUE(share->store->PutVolume(record).ok());
    auto owner = share->store->Claim(record.path, record.key);
    ASSERT_TRUE(owner.ok() && *owner == record.key);
  }

  // What the one-request create leaves when it stops after the claim (MetadataStore::
  // CreateVolumeAtOnce): a claim for `path` by the volume `owner_name`, and no record.
  void LeaveClaimOnly(const std::string& owner_name, const std::string& path) {
    auto share = controller_->shares().Get(share_);
    ASSERT_TRUE(share.ok()) << share.status().ToString();
    auto owner = share->store->Claim(path, KeyForName(owner_name));
    ASSERT_TRUE(owner.ok() && *owner == KeyForName(owner_name));
  }

  // The share's client with its reaper and usage scanner stopped (they share the client), after a
  // first create has connected it and made .nfsprov: its RequestCount() then counts only the
  // calls made.
  nfs::Client& QuietClient() {
    EXPECT_TRUE(controller_->CreateVolume(Args("pv-warm-up")).ok());
    auto share = controller_->shares().Get(share_);
    EXPECT_TRUE(share.ok());
    share->reaper->Stop();
    share->usage->Stop();
    return *share->client;
  }

  std::optional<VolumeRecord> RecordOf(const std::string& name) {
    auto share = controller_->shares().Get(share_);
    EXPECT_TRUE(share.ok());
    auto record = share->store->GetVolume(KeyForName(name));
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    return record.ok() ? *record : std::nullopt;
  }

  // CreateVolume with `done`, as the gRPC service calls it; also says on which thread `done` ran
  // (the NFS event loop's when the one request answered the call).
  Result<Volume> CreateWithoutWaiting(const CreateVolumeArgs& args, std::string* answered_on = nullptr) {
    std::promise<Result<Volume>> answer;  // a second answer would throw
    std::future<Result<Volume>> answered = answer.get_future();
    std::string thread;
    controller_->CreateVolume(args, [&](Result<Volume> volume) {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof(name));
      thread = name;
      answer.set_value(std::move(volume));
    });
    Result<Volume> volume = answered.get();
    if (answered_on != nullptr) *answered_on = thread;
    return volume;
  }

  std::unique_ptr<Controller> controller_;
};

// The gRPC service's CreateVolume gives every outcome the waiting one gives. A new volume is one
// request whose reply answers the call on the NFS event loop; anything else goes on in the
// background from where that request stopped.
TEST_F(ControllerResumeTest, WithoutAWaitingThreadEveryOutcomeIsTheSame) {
  nfs::Client& client = QuietClient();
  uint64_t before = client.RequestCount();
  std::string thread;
  auto volume = CreateWithoutWaiting(Args("pv-async"), &thread);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_EQ(client.RequestCount() - before, 1u);
  EXPECT_EQ(thread, "nfs-loop") << "answered by a thread that waited";
  EXPECT_EQ(RecordOf("pv-async")->state, VolumeState::kReady);
  EXPECT_TRUE(fs::is_directory(Local("pv-async")));

  before = client.RequestCount();
  auto again = CreateWithoutWaiting(Args("pv-async"), &thread);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, volume->id);
  EXPECT_EQ(client.RequestCount() - before, 2u) << "the COMPOUND stops at the claim; the record is read";
  EXPECT_EQ(thread, "create-volume");

  fs::create_directory(Local("pv-async-foreign"));
  EXPECT_EQ(CreateWithoutWaiting(Args("pv-async-foreign")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::is_symlink(Local(".nfsprov/claims/" + KeyForName("pv-async-foreign")))) << "claim kept";
  EXPECT_FALSE(RecordOf("pv-async-foreign").has_value());

  CreateVolumeArgs elsewhere = Args("pv-async");
  elsewhere.parameters["subDir"] = "pv-async-elsewhere";
  EXPECT_EQ(CreateWithoutWaiting(elsewhere).status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(Local("pv-async-elsewhere"))) << "the directory the refused call made is left";

  CreateVolumeArgs nested = Args("pv-async-nested");
  nested.parameters["subDir"] = "team/pv-async-nested";
  auto made = CreateWithoutWaiting(nested, &thread);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(thread, "create-volume") << "a path with a parent is checked for nesting, which needs NFS";
  EXPECT_TRUE(fs::is_directory(Local("team/pv-async-nested")));

  EXPECT_EQ(CreateWithoutWaiting(Args("")).status().code(), StatusCode::kInvalidArgument);
}

// Calls in flight when the controller goes away are answered before it is gone.
TEST_F(ControllerResumeTest, DestroyingTheControllerWaitsForCreatesInFlight) {
  QuietClient();
  std::atomic<int> answered{0};
  for (const std::string name : {"pv-last-1", "pv-last-2"}) {
    controller_->CreateVolume(Args(name), [&](Result<Volume> volume) {
      EXPECT_TRUE(volume.ok()) << volume.status().ToString();
      ++answered;
    });
  }
  fs::create_directory(Local("pv-last-foreign"));  // this one finishes in the background
  controller_->CreateVolume(Args("pv-last-foreign"), [&](Result<Volume> volume) {
    EXPECT_EQ(volume.status().code(), StatusCode::kAlreadyExists);
    ++answered;
  });
  controller_.reset();
  EXPECT_EQ(answered.load(), 3);
}

TEST_F(ControllerResumeTest, AdoptsAnEmptyDirectory) {
  LeaveCrashedCreation("pv-empty");
  fs::create_directory(Local("pv-empty"));
  auto volume = controller_->CreateVolume(Args("pv-empty"));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_EQ(volume->record.state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, RefusesAnEmptyDirectoryOlderThanItsRecord) {
  fs::create_directory(Local("pv-older"));  // someone's empty directory, there before the volume
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  LeaveCrashedCreation("pv-older");
  EXPECT_EQ(controller_->CreateVolume(Args("pv-older")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::is_directory(Local("pv-older")));
}

TEST_F(ControllerResumeTest, RefusesAForeignDirectoryWithData) {
  LeaveCrashedCreation("pv-foreign");
  fs::create_directory(Local("pv-foreign"));
  std::ofstream(Local("pv-foreign/precious")) << "not ours";
  auto volume = controller_->CreateVolume(Args("pv-foreign"));
  EXPECT_EQ(volume.status().code(), StatusCode::kAlreadyExists) << volume.status().ToString();
  EXPECT_TRUE(fs::exists(Local("pv-foreign/precious")));
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  auto record = share->store->GetVolume(KeyForName("pv-foreign"));
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_value()) << "the refused volume's record was left behind";
}

TEST_F(ControllerResumeTest, CopiesOnlyOverItsOwnPartialCopy) {
  auto source = controller_->CreateVolume(Args("pv-src"));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  std::ofstream(Local("pv-src/data")) << "source data";
  std::string content_source = "volume:" + source->id;

  // A partial copy (the copy engine's staging directory is still inside): redone from scratch.
  LeaveCrashedCreation("pv-partial", content_source);
  fs::create_directories(Local("pv-partial/") + std::string(nfs::kCopyStagingPrefix) + "0123");
  std::ofstream(Local("pv-partial/half")) << "half-copied";
  CreateVolumeArgs partial = Args("pv-partial");
  partial.source = {ContentSource::Kind::kVolume, source->id};
  auto resumed = controller_->CreateVolume(partial);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_FALSE(fs::exists(Local("pv-partial/half")));
  EXPECT_TRUE(fs::exists(Local("pv-partial/data")));

  // Anything else there is not ours: left alone.
  LeaveCrashedCreation("pv-other", content_source);
  fs::create_directory(Local("pv-other"));
  std::ofstream(Local("pv-other/precious")) << "not ours";
  CreateVolumeArgs other = Args("pv-other");
  other.source = {ContentSource::Kind::kVolume, source->id};
  EXPECT_EQ(controller_->CreateVolume(other).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(Local("pv-other/precious")));
}

TEST_F(ControllerResumeTest, ANewVolumeIsOneRequestAndARetryTwo) {
  nfs::Client& client = QuietClient();
  uint64_t before = client.RequestCount();
  auto volume = controller_->CreateVolume(Args("pv-counted"));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_EQ(client.RequestCount() - before, 1u) << "one COMPOUND: claim, directory, record";
  before = client.RequestCount();
  auto again = controller_->CreateVolume(Args("pv-counted"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, volume->id);
  EXPECT_EQ(client.RequestCount() - before, 2u) << "the COMPOUND stops at the claim; the record is read";
  struct stat st;
  ASSERT_EQ(stat(Local("pv-counted").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  EXPECT_EQ(RecordOf("pv-counted")->state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, RefusesAnEmptyDirectoryMadeJustBefore) {
  // Within the server's timestamp granularity of the claim: only the one-request create, which
  // made the claim itself, can tell it is not the volume's own.
  for (int i = 0; i < 5; ++i) {
    const std::string name = "pv-just-before-" + std::to_string(i);
    fs::create_directory(Local(name));
    EXPECT_EQ(controller_->CreateVolume(Args(name)).status().code(), StatusCode::kAlreadyExists);
    EXPECT_TRUE(fs::is_empty(Local(name)));
    EXPECT_FALSE(RecordOf(name).has_value());
    EXPECT_FALSE(fs::is_symlink(Local(".nfsprov/claims/" + KeyForName(name)))) << "claim kept";
  }
}

TEST_F(ControllerResumeTest, TheSameNameForAnotherPathTakesNothing) {
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-here")).ok());
  CreateVolumeArgs args = Args("pv-here");
  args.parameters["subDir"] = "elsewhere";
  EXPECT_EQ(controller_->CreateVolume(args).status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(Local("elsewhere"))) << "the directory the refused call made is left";
  EXPECT_FALSE(fs::is_symlink(Local(".nfsprov/claims/" + KeyForName("elsewhere")))) << "and its claim";
  EXPECT_EQ(RecordOf("pv-here")->path, "pv-here");
}

TEST_F(ControllerResumeTest, ResumesAStepByStepCreateThatStoppedBeforeItsClaim) {
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  VolumeRecord record;
  record.name = "pv-early";
  record.key = KeyForName("pv-early");
  record.path = "pv-early";
  record.parameters = Args("pv-early").parameters;
  record.state = VolumeState::kCreating;
  ASSERT_TRUE(share->store->PutVolume(record).ok());
  auto volume = controller_->CreateVolume(Args("pv-early"));
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_TRUE(fs::is_directory(Local("pv-early")));
  EXPECT_EQ(RecordOf("pv-early")->state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, ResumesACreateThatStoppedAfterItsClaim) {
  LeaveClaimOnly("pv-claimed", "pv-claimed");
  CreateVolumeArgs args = Args("pv-claimed");
  args.parameters["mountPermissions"] = "0750";
  auto volume = controller_->CreateVolume(args);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  struct stat st;
  ASSERT_EQ(stat(Local("pv-claimed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(RecordOf("pv-claimed")->state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, ResumesACreateThatStoppedAfterItsDirectory) {
  // The directory made after the claim, its SETATTR not done yet (mode still 0700).
  LeaveClaimOnly("pv-made", "pv-made");
  ASSERT_EQ(mkdir(Local("pv-made").c_str(), 0700), 0);
  CreateVolumeArgs args = Args("pv-made");
  args.parameters["mountPermissions"] = "02775";
  auto volume = controller_->CreateVolume(args);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  struct stat st;
  ASSERT_EQ(stat(Local("pv-made").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u) << "adopted and given its mode";
  EXPECT_EQ(RecordOf("pv-made")->state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, RefusesAnOlderDirectoryBehindItsOwnClaim) {
  fs::create_directory(Local("pv-old"));
  std::ofstream(Local("pv-old/precious")) << "not ours";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  LeaveClaimOnly("pv-old", "pv-old");  // e.g. the one-request create stopped at the directory
  EXPECT_EQ(controller_->CreateVolume(Args("pv-old")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(Local("pv-old/precious")));
  EXPECT_FALSE(RecordOf("pv-old").has_value()) << "the refused volume's record was left behind";
  EXPECT_FALSE(fs::is_symlink(Local(".nfsprov/claims/" + KeyForName("pv-old")))) << "claim kept";
}

TEST_F(ControllerResumeTest, APathClaimedByAnotherHalfMadeVolumeIsNotTaken) {
  LeaveClaimOnly("pv-first", "shared");  // its create stopped after the claim
  CreateVolumeArgs args = Args("pv-second");
  args.parameters["subDir"] = "shared";
  EXPECT_EQ(controller_->CreateVolume(args).status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(Local("shared")));
  EXPECT_FALSE(RecordOf("pv-second").has_value());
  EXPECT_EQ(fs::read_symlink(Local(".nfsprov/claims/" + KeyForName("shared"))).string(),
            KeyForName("pv-first"));
  // The first one, retried, still gets its directory.
  args = Args("pv-first");
  args.parameters["subDir"] = "shared";
  auto first = controller_->CreateVolume(args);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(fs::is_directory(Local("shared")));
}

TEST_F(ControllerResumeTest, ANewParentDirectoryFallsBackToTheStepByStepCreate) {
  CreateVolumeArgs args = Args("pv-nested");
  args.parameters["subDir"] = "team/a/pv-nested";
  auto volume = controller_->CreateVolume(args);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_TRUE(fs::is_directory(Local("team/a/pv-nested")));
  EXPECT_EQ(RecordOf("pv-nested")->state, VolumeState::kReady);
}

TEST_F(ControllerResumeTest, ARecordTooLargeForOneRequestGoesStepByStep) {
  // The path is in the claim's, the directory's and the record's part of the COMPOUND, and twice
  // in the record: together more than one request holds, while the record alone fits.
  CreateVolumeArgs args = Args("pv-large");
  const std::string path = std::string(250, 'a') + "/" + std::string(250, 'b') + "/" + std::string(250, 'c');
  args.parameters["subDir"] = path;
  args.parameters["mountOptions"] = "nfsvers=4.1," + std::string(900, 'o');
  nfs::Client& client = QuietClient();
  const uint64_t before = client.RequestCount();
  auto volume = controller_->CreateVolume(args);
  ASSERT_TRUE(volume.ok()) << volume.status().ToString();
  EXPECT_GT(client.RequestCount() - before, 3u) << "the one-request create was not refused";
  EXPECT_TRUE(fs::is_directory(Local(path)));
  EXPECT_EQ(RecordOf("pv-large")->state, VolumeState::kReady);
}

}  // namespace
}  // namespace nfsprov
