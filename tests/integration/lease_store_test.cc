// LeaseStore against a real nfs-ganesha: records as the header lays them out, round trips,
// directories made on demand, the request count of the fast path, corrupt records and bad input.
#include "lockd/lease_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"
#include "tests/support/ganesha_server.h"

namespace nfsprov::lockd {
namespace {

using namespace std::chrono_literals;

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    Status assert_ok_status_ = (expr);                                    \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

constexpr char kLock[] = "db-migrations";
constexpr char kIdA[] = "aaaaaaaaaaaaaaaa0001";
constexpr char kIdB[] = "bbbbbbbbbbbbbbbb0002";
constexpr char kIdC[] = "cccccccccccccccc0003";

class LeaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto client = nfs::Client::Connect("nfs://127.0.0.1/export/?version=4&nfsport=" +
                                       std::to_string(server_->port()));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    store_ = std::make_unique<LeaseStore>(client_);
  }

  // `rel` in the export's local directory.
  std::string Local(const std::string& rel) const { return server_->export_dir() + "/" + rel; }
  std::string LocalLockDir(const std::string& key, const std::string& name) const {
    return Local(".nfsprov/locks/" + key + "/" + name);
  }

  std::string LocalLink(const std::string& path) const {
    std::error_code ec;
    return std::filesystem::read_symlink(path, ec).string();
  }

  std::unique_ptr<testing::GaneshaServer> server_;
  std::shared_ptr<nfs::Client> client_;
  std::unique_ptr<LeaseStore> store_;
  const std::string key_ = KeyForName("pvc-locks");
  const std::string other_key_ = KeyForName("pvc-other");
};

TEST_F(LeaseStoreTest, LoadOfNothingIsEmpty) {
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->reserved, 0u);
  EXPECT_TRUE(lock->leases.empty());
  EXPECT_FALSE(std::filesystem::exists(Local(".nfsprov/locks")));
}

TEST_F(LeaseStoreTest, ReserveThenLoad) {
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {100}));
  EXPECT_EQ(LocalLink(LocalLockDir(key_, kLock) + "/tokens.1"), "v1 reserved=100");
  for (const std::string& dir : std::vector<std::string>{
           ".nfsprov/locks", ".nfsprov/locks/" + key_, ".nfsprov/locks/" + key_ + "/" + kLock}) {
    struct stat st {};
    ASSERT_EQ(::stat(Local(dir).c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  }
  ASSERT_OK(store_->Reserve(key_, kLock, 2, {200}));
  ASSERT_OK(store_->DropReservation(key_, kLock, 1));
  EXPECT_FALSE(std::filesystem::is_symlink(LocalLockDir(key_, kLock) + "/tokens.1"));
  ASSERT_OK(store_->DropReservation(key_, kLock, 1));  // missing: OK
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->generation, 2u);
  EXPECT_EQ(lock->reserved, 200u);
  EXPECT_TRUE(lock->leases.empty());
}

TEST_F(LeaseStoreTest, AReservationCarriesItsGrace) {
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {100, std::chrono::seconds(15)}));
  EXPECT_EQ(LocalLink(LocalLockDir(key_, kLock) + "/tokens.1"), "v1 reserved=100 grace_ms=15000");
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->grace, std::chrono::seconds(15));
  ASSERT_OK(store_->Reserve(key_, kLock, 2, {100}));  // cleared: the newest generation counts
  lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->grace.count(), 0);
  EXPECT_EQ(lock->reserved, 100u);
}

// Two lockd instances that loaded the same generation: only the first reservation of the next
// one is taken, so their token blocks never overlap.
TEST_F(LeaseStoreTest, AGenerationIsReservedOnce) {
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {100}));
  EXPECT_EQ(store_->Reserve(key_, kLock, 1, {150}).code(), StatusCode::kAlreadyExists);
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->generation, 1u);
  EXPECT_EQ(lock->reserved, 100u);
  EXPECT_EQ(store_->Reserve(key_, kLock, 0, {1}).code(), StatusCode::kInvalidArgument);
}

TEST_F(LeaseStoreTest, NewestGenerationCountsAndTheOldTokensRecordIsGenerationZero) {
  ASSERT_OK(store_->PutLease(key_, kLock, {kIdA, LockMode::kExclusive, 1, 10s}));
  const std::string dir = LocalLockDir(key_, kLock);
  ASSERT_EQ(::symlink("v1 reserved=30", (dir + "/tokens").c_str()), 0);
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->generation, 0u);
  EXPECT_EQ(lock->reserved, 30u);
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {60}));
  ASSERT_OK(store_->DropReservation(key_, kLock, 0));
  EXPECT_FALSE(std::filesystem::is_symlink(dir + "/tokens"));
  // A drop that did not happen (a crash) leaves an older generation: it does not count.
  ASSERT_EQ(::symlink("v1 reserved=90", (dir + "/tokens.3").c_str()), 0);
  ASSERT_EQ(::symlink("v1 reserved=70", (dir + "/tokens.2").c_str()), 0);
  lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->generation, 3u);
  EXPECT_EQ(lock->reserved, 90u);
}

TEST_F(LeaseStoreTest, LeasesRoundTripSorted) {
  const StoredLease c{kIdC, LockMode::kShared, 3, 5s};
  const StoredLease a{kIdA, LockMode::kExclusive, 1, 30s};
  const StoredLease b{kIdB, LockMode::kShared, 2, 3600s};
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {64}));
  for (const StoredLease& lease : {c, a, b}) ASSERT_OK(store_->PutLease(key_, kLock, lease));
  EXPECT_EQ(LocalLink(LocalLockDir(key_, kLock) + "/lease." + kIdA),
            "v1 mode=x token=1 ttl_ms=30000");

  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->reserved, 64u);
  EXPECT_EQ(lock->leases, (std::vector<StoredLease>{a, b, c}));

  ASSERT_OK(store_->DeleteLease(key_, kLock, kIdB));
  lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->leases, (std::vector<StoredLease>{a, c}));
  EXPECT_EQ(lock->reserved, 64u);
}

TEST_F(LeaseStoreTest, LeaseWithoutReservationLoads) {
  const StoredLease a{kIdA, LockMode::kExclusive, 9, 10s};
  ASSERT_OK(store_->PutLease(key_, kLock, a));
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->reserved, 0u);
  EXPECT_EQ(lock->leases, std::vector<StoredLease>{a});
}

TEST_F(LeaseStoreTest, PutLeaseReplaces) {
  ASSERT_OK(store_->PutLease(key_, kLock, {kIdA, LockMode::kExclusive, 5, 10s}));
  const StoredLease renewed{kIdA, LockMode::kExclusive, 5, 60s};
  ASSERT_OK(store_->PutLease(key_, kLock, renewed));
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->leases, std::vector<StoredLease>{renewed});
}

// The point of the layout: once the lock's directory exists, a grant or a reservation is one
// COMPOUND; a new lock of a known volume adds one MKDIR.
TEST_F(LeaseStoreTest, WritesCostOneRequest) {
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {10}));
  uint64_t before = client_->RequestCount();
  ASSERT_OK(store_->PutLease(key_, kLock, {kIdA, LockMode::kExclusive, 1, 10s}));
  EXPECT_EQ(client_->RequestCount() - before, 1u);
  before = client_->RequestCount();
  ASSERT_OK(store_->Reserve(key_, kLock, 2, {20}));
  EXPECT_EQ(client_->RequestCount() - before, 1u);
  before = client_->RequestCount();
  ASSERT_OK(store_->Reserve(key_, "second-lock", 1, {10}));
  EXPECT_EQ(client_->RequestCount() - before, 3u);  // create, mkdir, create
}

TEST_F(LeaseStoreTest, DeleteOfMissingIsOk) {
  ASSERT_OK(store_->DeleteLease(key_, kLock, kIdA));  // no directories at all
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {1}));
  ASSERT_OK(store_->DeleteLease(key_, kLock, kIdA));
  ASSERT_OK(MetadataStore(client_).DeleteVolumeLocks(other_key_));
}

TEST_F(LeaseStoreTest, DeleteVolumeLocksKeepsOtherVolumes) {
  for (const std::string& key : {key_, other_key_}) {
    for (const char* name : {"one", "two"}) {
      ASSERT_OK(store_->Reserve(key, name, 1, {8}));
      ASSERT_OK(store_->PutLease(key, name, {kIdA, LockMode::kShared, 1, 10s}));
    }
  }
  ASSERT_OK(MetadataStore(client_).DeleteVolumeLocks(key_));
  EXPECT_FALSE(std::filesystem::exists(Local(".nfsprov/locks/" + key_)));
  for (const char* name : {"one", "two"}) {
    Result<StoredLock> gone = store_->Load(key_, name);
    ASSERT_TRUE(gone.ok()) << gone.status().ToString();
    EXPECT_EQ(gone->reserved, 0u);
    EXPECT_TRUE(gone->leases.empty());
    Result<StoredLock> kept = store_->Load(other_key_, name);
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    EXPECT_EQ(kept->reserved, 8u);
    EXPECT_EQ(kept->leases.size(), 1u);
  }
  ASSERT_OK(MetadataStore(client_).DeleteVolumeLocks(key_));  // again: nothing left, still OK
}

TEST_F(LeaseStoreTest, IgnoresEntriesThatAreNotRecords) {
  const StoredLease a{kIdA, LockMode::kExclusive, 1, 10s};
  ASSERT_OK(store_->PutLease(key_, kLock, a));
  const std::string dir = LocalLockDir(key_, kLock);
  // What a replace interrupted by a crash leaves, and names no record can have.
  for (const std::string& name : std::vector<std::string>{
           std::string("lease.") + kIdB + ".nfsprov-tmp-0123456789abcdef",
           "tokens.nfsprov-tmp-0123456789abcdef", "lease.short", "notes"}) {
    ASSERT_EQ(::symlink("garbage", (dir + "/" + name).c_str()), 0) << name;
  }
  Result<StoredLock> lock = store_->Load(key_, kLock);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->leases, std::vector<StoredLease>{a});
}

TEST_F(LeaseStoreTest, CorruptRecordIsInternal) {
  ASSERT_OK(store_->Reserve(key_, kLock, 1, {5}));
  const std::string dir = LocalLockDir(key_, kLock);
  ASSERT_EQ(::symlink("v1 mode=x token=zero ttl_ms=1000", (dir + "/lease." + kIdA).c_str()), 0);
  Result<StoredLock> lock = store_->Load(key_, kLock);
  EXPECT_EQ(lock.status().code(), StatusCode::kInternal);
  EXPECT_NE(lock.status().message().find("/.nfsprov/locks/" + key_ + "/" + kLock + "/lease." +
                                         kIdA),
            std::string::npos)
      << lock.status().ToString();

  ASSERT_OK(store_->DeleteLease(key_, kLock, kIdA));
  ASSERT_EQ(::unlink((dir + "/tokens.1").c_str()), 0);
  ASSERT_EQ(::symlink("v1 reserved=-1", (dir + "/tokens.1").c_str()), 0);
  lock = store_->Load(key_, kLock);
  EXPECT_EQ(lock.status().code(), StatusCode::kInternal);
  EXPECT_NE(lock.status().message().find("/tokens.1"), std::string::npos)
      << lock.status().ToString();
}

TEST_F(LeaseStoreTest, BadInputIsRefusedBeforeTheServer) {
  const StoredLease good{kIdA, LockMode::kExclusive, 1, 10s};
  const uint64_t before = client_->RequestCount();
  for (const std::string& bad_key :
       std::vector<std::string>{"", "NOTAKEY", "../../etc", key_ + "/x"}) {
    EXPECT_EQ(store_->Load(bad_key, kLock).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Reserve(bad_key, kLock, 1, {1}).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->PutLease(bad_key, kLock, good).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->DeleteLease(bad_key, kLock, kIdA).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(MetadataStore(client_).DeleteVolumeLocks(bad_key).code(), StatusCode::kInvalidArgument);
  }
  for (const std::string& bad_name :
       std::vector<std::string>{"", ".", "..", ".hidden", "a/b", "sp ace", std::string(201, 'n')}) {
    EXPECT_EQ(store_->Load(key_, bad_name).status().code(), StatusCode::kInvalidArgument)
        << bad_name;
    EXPECT_EQ(store_->Reserve(key_, bad_name, 1, {1}).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->PutLease(key_, bad_name, good).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->DeleteLease(key_, bad_name, kIdA).code(), StatusCode::kInvalidArgument);
  }
  for (const std::string& bad_id : std::vector<std::string>{
           "", "short", "has.dot.in.the.middle", "../../../../etc/passwd", std::string(65, 'i')}) {
    StoredLease lease = good;
    lease.lease_id = bad_id;
    EXPECT_EQ(store_->PutLease(key_, kLock, lease).code(), StatusCode::kInvalidArgument) << bad_id;
    EXPECT_EQ(store_->DeleteLease(key_, kLock, bad_id).code(), StatusCode::kInvalidArgument);
  }
  // Records DecodeLease would refuse are never written.
  EXPECT_EQ(store_->PutLease(key_, kLock, {kIdA, LockMode::kExclusive, 0, 10s}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutLease(key_, kLock, {kIdA, LockMode::kExclusive, 1, 0ms}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->RequestCount(), before);
  EXPECT_FALSE(std::filesystem::exists(Local(".nfsprov")));
}

}  // namespace
}  // namespace nfsprov::lockd
