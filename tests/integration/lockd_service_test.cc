// lockd's gRPC service against a real nfs-ganesha and a real gRPC socket: grants, queueing,
// expiry, persistence across restarts, authorisation, bad input and TLS.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lockd/server_tls.h"
#include "tests/integration/lockd_test.h"
#include "tests/support/log_capture.h"
#include "tests/support/test_certs.h"
#include "tests/support/wait_for.h"

namespace nfsprov::lockd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class LockdServiceTest : public LockdTest {
 protected:
  LockdServiceTest() { options_.token_block = 4; }  // small, so restarts cross reservations

  void SetUp() override {
    LockdTest::SetUp();
    if (HasFatalFailure()) return;
    plain_id_ = PutVolume("plain", {});
    Connect();
  }

  // A plaintext stub for the lockd now running.
  void Connect() {
    address_ = "127.0.0.1:" + std::to_string(lockd_->bound_port());
    stub_ = v1::Locks::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  void RestartLockd(std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
    StopLockd();
    StartLockd(std::move(credentials));
    Connect();
  }

  v1::LockRef Ref(const std::string& name, const std::string& volume_id = "") const {
    v1::LockRef ref;
    ref.set_volume_id(volume_id.empty() ? volume_id_ : volume_id);
    ref.set_secret(key_->SecretFor(ref.volume_id()));
    ref.set_name(name);
    return ref;
  }

  grpc::Status Acquire(const v1::LockRef& ref, const std::string& lease, v1::Mode mode, uint32_t wait_ms,
                       v1::AcquireResponse* response, uint32_t ttl_ms = 10000) {
    v1::AcquireRequest request;
    *request.mutable_lock() = ref;
    request.set_lease_id(lease);
    request.set_mode(mode);
    request.set_ttl_ms(ttl_ms);
    request.set_wait_ms(wait_ms);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + milliseconds(wait_ms) + seconds(10));
    return stub_->Acquire(&context, request, response);
  }

  // A granted exclusive or shared lease's token; fails the test when not granted.
  uint64_t MustAcquire(const std::string& name, const std::string& lease,
                       v1::Mode mode = v1::EXCLUSIVE, uint32_t ttl_ms = 10000) {
    v1::AcquireResponse response;
    grpc::Status status = Acquire(Ref(name), lease, mode, 0, &response, ttl_ms);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.granted()) << lease << " not granted";
    return response.lease().fencing_token();
  }

  bool Release(const std::string& name, const std::string& lease) {
    v1::ReleaseRequest request;
    *request.mutable_lock() = Ref(name);
    request.set_lease_id(lease);
    v1::ReleaseResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->Release(&context, request, &response).ok());
    return response.was_held();
  }

  grpc::Status Renew(const std::string& name, const std::string& lease) {
    v1::RenewRequest request;
    *request.mutable_lock() = Ref(name);
    request.set_lease_id(lease);
    v1::RenewResponse response;
    grpc::ClientContext context;
    return stub_->Renew(&context, request, &response);
  }

  v1::InspectResponse Inspect(const std::string& name) {
    v1::InspectRequest request;
    *request.mutable_lock() = Ref(name);
    v1::InspectResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->Inspect(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::string plain_id_;
  std::string address_;
  std::unique_ptr<v1::Locks::Stub> stub_;
};

const std::string kLeaseA = "lease-aaaaaaaaaaaaaaaa";
const std::string kLeaseB = "lease-bbbbbbbbbbbbbbbb";
const std::string kLeaseC = "lease-cccccccccccccccc";
const std::string kLeaseD = "lease-dddddddddddddddd";

TEST_F(LockdServiceTest, ExclusiveExcludesAndTokensIncrease) {
  const uint64_t first = MustAcquire("counter", kLeaseA);
  EXPECT_GT(first, 0u);
  v1::AcquireResponse refused;
  ASSERT_TRUE(Acquire(Ref("counter"), kLeaseB, v1::EXCLUSIVE, 0, &refused).ok());
  EXPECT_FALSE(refused.granted());
  EXPECT_EQ(refused.holders(), 1u);
  // A retried Acquire of the holder is the same grant.
  EXPECT_EQ(MustAcquire("counter", kLeaseA), first);
  EXPECT_TRUE(Release("counter", kLeaseA));
  EXPECT_FALSE(Release("counter", kLeaseA));  // idempotent
  EXPECT_GT(MustAcquire("counter", kLeaseB), first);
  // Another name is another lock.
  MustAcquire("other", kLeaseC);
}

TEST_F(LockdServiceTest, LeasesAndTokensSurviveRestarts) {
  uint64_t last = MustAcquire("state", kLeaseA, v1::EXCLUSIVE, 60000);
  RestartLockd();
  // The holder from before the restart still holds, and can renew.
  v1::InspectResponse inspected = Inspect("state");
  ASSERT_EQ(inspected.holders_size(), 1);
  EXPECT_EQ(inspected.holders(0).lease_id(), kLeaseA);
  EXPECT_EQ(inspected.holders(0).fencing_token(), last);
  v1::AcquireResponse refused;
  ASSERT_TRUE(Acquire(Ref("state"), kLeaseB, v1::EXCLUSIVE, 0, &refused).ok());
  EXPECT_FALSE(refused.granted());
  EXPECT_TRUE(Renew("state", kLeaseA).ok());
  EXPECT_TRUE(Release("state", kLeaseA));
  // Tokens go up across restarts, whether or not a token block was used up (block = 4).
  for (int round = 0; round < 6; ++round) {
    const std::string lease = "lease-round-" + std::to_string(round) + "-xxxxxxxx";
    const uint64_t token = MustAcquire("state", lease);
    EXPECT_GT(token, last) << "round " << round;
    last = token;
    EXPECT_TRUE(Release("state", lease));
    if (round % 2 == 0) RestartLockd();
  }
}

TEST_F(LockdServiceTest, SharedHoldersCoexistAndExclusiveWaiterIsNotStarved) {
  MustAcquire("plugins", kLeaseA, v1::SHARED);
  MustAcquire("plugins", kLeaseB, v1::SHARED);
  std::future<v1::AcquireResponse> exclusive = std::async(std::launch::async, [&] {
    v1::AcquireResponse response;
    EXPECT_TRUE(Acquire(Ref("plugins"), kLeaseC, v1::EXCLUSIVE, 20000, &response).ok());
    return response;
  });
  for (int i = 0; i < 100 && Inspect("plugins").waiters() == 0; ++i) std::this_thread::sleep_for(milliseconds(20));
  ASSERT_EQ(Inspect("plugins").waiters(), 1u);
  // A new shared request queues behind the exclusive waiter instead of joining the holders.
  v1::AcquireResponse late;
  ASSERT_TRUE(Acquire(Ref("plugins"), "lease-late-shared-xxxx", v1::SHARED, 0, &late).ok());
  EXPECT_FALSE(late.granted());
  EXPECT_TRUE(Release("plugins", kLeaseA));
  EXPECT_EQ(exclusive.wait_for(milliseconds(300)), std::future_status::timeout);  // B still holds
  EXPECT_TRUE(Release("plugins", kLeaseB));
  v1::AcquireResponse granted = exclusive.get();
  EXPECT_TRUE(granted.granted());
  EXPECT_EQ(granted.lease().mode(), v1::EXCLUSIVE);
}

TEST_F(LockdServiceTest, WaiterGetsTheLockWhenTheHolderStopsRenewing) {
  const uint64_t dead = MustAcquire("job", kLeaseA, v1::EXCLUSIVE, 1000);
  const auto start = std::chrono::steady_clock::now();
  v1::AcquireResponse response;
  ASSERT_TRUE(Acquire(Ref("job"), kLeaseB, v1::EXCLUSIVE, 10000, &response).ok());
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(response.granted());
  EXPECT_GT(response.lease().fencing_token(), dead);
  EXPECT_GE(waited, milliseconds(900));  // not before the lease ran out
  EXPECT_LT(waited, seconds(5));
  grpc::Status renewed = Renew("job", kLeaseA);
  EXPECT_EQ(renewed.error_code(), grpc::StatusCode::NOT_FOUND) << renewed.error_message();
}

TEST_F(LockdServiceTest, QueuedAcquireTimesOutAndKeepsItsPlaceForItsNextCall) {
  MustAcquire("slow", kLeaseA);
  v1::AcquireResponse response;
  ASSERT_TRUE(Acquire(Ref("slow"), kLeaseB, v1::EXCLUSIVE, 300, &response).ok());
  EXPECT_FALSE(response.granted());
  EXPECT_EQ(response.waiters(), 0u);  // nobody else waits
  EXPECT_EQ(Inspect("slow").waiters(), 1u);  // B's place, kept for its next call
  // C comes later and waits: when A lets go, B's place is still first.
  auto c = std::async(std::launch::async, [&] {
    v1::AcquireResponse waited;
    EXPECT_TRUE(Acquire(Ref("slow"), kLeaseC, v1::EXCLUSIVE, 3000, &waited).ok());
    return waited.granted();
  });
  while (Inspect("slow").waiters() < 2) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(Release("slow", kLeaseA));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(Inspect("slow").holders_size(), 0) << "C overtook B between two of B's calls";
  MustAcquire("slow", kLeaseB);  // B's next call resumes its place
  EXPECT_TRUE(Release("slow", kLeaseB));
  EXPECT_TRUE(c.get());
}

TEST_F(LockdServiceTest, KeptPlaceLapsesOrIsGivenUp) {
  MustAcquire("slow", kLeaseA);
  v1::AcquireResponse response;
  ASSERT_TRUE(Acquire(Ref("slow"), kLeaseB, v1::EXCLUSIVE, 100, &response).ok());
  ASSERT_FALSE(response.granted());
  EXPECT_FALSE(Release("slow", kLeaseB));  // a waiter, not a holder: gives the place up
  EXPECT_EQ(Inspect("slow").waiters(), 0u);

  ASSERT_TRUE(Acquire(Ref("slow"), kLeaseB, v1::EXCLUSIVE, 100, &response).ok());
  ASSERT_FALSE(response.granted());
  EXPECT_TRUE(Release("slow", kLeaseA));
  std::this_thread::sleep_for(milliseconds(1300));  // B never asks again: its place lapses
  EXPECT_EQ(Inspect("slow").waiters(), 0u);
  MustAcquire("slow", kLeaseC);
  // A try never keeps a place.
  ASSERT_TRUE(Acquire(Ref("slow"), kLeaseA, v1::EXCLUSIVE, 0, &response).ok());
  EXPECT_FALSE(response.granted());
  EXPECT_EQ(Inspect("slow").waiters(), 0u);
}

TEST_F(LockdServiceTest, WrongSecretIsDeniedAndNotLogged) {
  testing::LogCapture log;
  v1::LockRef ref = Ref("x");
  const std::string wrong(64, 'f');
  ref.set_secret(wrong);
  v1::AcquireResponse response;
  grpc::Status status = Acquire(ref, kLeaseA, v1::EXCLUSIVE, 0, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("does not belong to volume"), std::string::npos);
  EXPECT_EQ(log.Count({"PERMISSION_DENIED"}), 1);
  EXPECT_EQ(log.Count({wrong}), 0);
  // A secret of another volume opens nothing here either.
  ref.set_secret(Ref("x", plain_id_).secret());
  EXPECT_EQ(Acquire(ref, kLeaseA, v1::EXCLUSIVE, 0, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(LockdServiceTest, SessionAnswersEveryCallInOrderAndOutlivesItsErrors) {
  grpc::ClientContext context;
  auto session = stub_->Session(&context);
  uint64_t next_id = 100;
  auto call = [&](v1::SessionRequest request) {
    request.set_call_id(++next_id);
    v1::SessionResponse response;
    EXPECT_TRUE(session->Write(request));
    EXPECT_TRUE(session->Read(&response));
    EXPECT_EQ(response.call_id(), next_id);
    return response;
  };
  auto acquire = [&](const std::string& lease, uint32_t wait_ms = 0, v1::LockRef ref = {}) {
    v1::SessionRequest request;
    *request.mutable_acquire()->mutable_lock() = ref.name().empty() ? Ref("session") : ref;
    request.mutable_acquire()->set_lease_id(lease);
    request.mutable_acquire()->set_mode(v1::EXCLUSIVE);
    request.mutable_acquire()->set_ttl_ms(10000);
    request.mutable_acquire()->set_wait_ms(wait_ms);
    return call(request);
  };
  auto release = [&](const std::string& lease) {
    v1::SessionRequest request;
    *request.mutable_release()->mutable_lock() = Ref("session");
    request.mutable_release()->set_lease_id(lease);
    return call(request);
  };

  v1::SessionResponse granted = acquire(kLeaseA);
  ASSERT_EQ(granted.code(), 0) << granted.message();
  ASSERT_TRUE(granted.acquire().granted());
  const uint64_t first = granted.acquire().lease().fencing_token();
  EXPECT_GT(first, 0u);
  v1::SessionResponse refused = acquire(kLeaseB);
  EXPECT_EQ(refused.code(), 0);
  EXPECT_FALSE(refused.acquire().granted());
  EXPECT_EQ(refused.acquire().holders(), 1u);

  // Errors end the call, not the session.
  v1::SessionResponse queued = acquire(kLeaseB, 500);
  EXPECT_EQ(queued.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(queued.message(), ::testing::HasSubstr("does not queue"));
  EXPECT_FALSE(queued.has_acquire());
  v1::LockRef forged = Ref("session");
  forged.set_secret("not-the-secret");
  EXPECT_EQ(acquire(kLeaseB, 0, forged).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(call(v1::SessionRequest()).code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::SessionRequest renew;
  *renew.mutable_renew()->mutable_lock() = Ref("session");
  renew.mutable_renew()->set_lease_id(kLeaseA);
  v1::SessionResponse renewed = call(renew);
  ASSERT_EQ(renewed.code(), 0) << renewed.message();
  EXPECT_EQ(renewed.renew().lease().fencing_token(), first);

  EXPECT_TRUE(release(kLeaseA).release().was_held());
  EXPECT_FALSE(release(kLeaseA).release().was_held());  // idempotent
  v1::SessionResponse next = acquire(kLeaseB);
  ASSERT_TRUE(next.acquire().granted());
  EXPECT_GT(next.acquire().lease().fencing_token(), first);
  // One service behind both: the unary calls see what the session did.
  v1::InspectResponse inspected = Inspect("session");
  ASSERT_EQ(inspected.holders_size(), 1);
  EXPECT_EQ(inspected.holders(0).lease_id(), kLeaseB);

  session->WritesDone();
  EXPECT_TRUE(session->Finish().ok());
}

// A stop must not sit out its grace for calls that only wait: queued acquires and sessions
// between messages. Nothing was being served, so it ends at once.
TEST_F(LockdServiceTest, StopEndsQueuedWaitsAndIdleSessionsAtOnce) {
  MustAcquire("stop", kLeaseA);
  grpc::ClientContext session_context;
  auto session = stub_->Session(&session_context);
  v1::SessionRequest request;
  request.set_call_id(1);
  *request.mutable_acquire()->mutable_lock() = Ref("stop-session");
  request.mutable_acquire()->set_lease_id(kLeaseC);
  request.mutable_acquire()->set_mode(v1::EXCLUSIVE);
  request.mutable_acquire()->set_ttl_ms(10000);
  v1::SessionResponse answer;
  ASSERT_TRUE(session->Write(request));
  ASSERT_TRUE(session->Read(&answer));
  ASSERT_TRUE(answer.acquire().granted()) << answer.message();

  auto waiter = std::async(std::launch::async, [&] {
    v1::AcquireResponse response;
    return Acquire(Ref("stop"), kLeaseB, v1::EXCLUSIVE, 20000, &response);
  });
  while (Inspect("stop").waiters() < 1) std::this_thread::sleep_for(milliseconds(5));

  const auto stop_at = std::chrono::steady_clock::now();
  lockd_->Shutdown(seconds(30));
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, seconds(2));
  grpc::Status waited = waiter.get();
  EXPECT_EQ(waited.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(waited.error_message(), ::testing::HasSubstr("lockd is stopping"));
  EXPECT_FALSE(session->Read(&answer));
  EXPECT_FALSE(session->Finish().ok());
}

// A replacement started while the old lockd still runs (a partitioned node) is outside what
// lockd supports, but even then no fencing token is handed out twice: each token block is a new
// generation created exclusively, and the lockd that finds its next block taken loads the lock
// again instead of granting from its memory.
TEST_F(LockdServiceTest, TwoLockdsOnOneShareNeverHandOutTheSameToken) {
  LockService other_service(*key_, options_);
  auto endpoint = csi::ParseEndpoint("tcp://127.0.0.1:0");
  ASSERT_TRUE(endpoint.ok());
  auto other = csi::CsiServer::Start(*endpoint, {&other_service});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto other_stub = v1::Locks::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*other)->bound_port()), grpc::InsecureChannelCredentials()));

  std::vector<uint64_t> tokens;
  int refused_as_superseded = 0;
  auto grant_and_release = [&](v1::Locks::Stub& stub, const std::string& lease) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      v1::AcquireRequest request;
      *request.mutable_lock() = Ref("split");
      request.set_lease_id(lease);
      request.set_mode(v1::EXCLUSIVE);
      // A lockd that reloads the lock after the other reserved tokens finds the other's grace
      // there, and grants nothing for one TTL: the shortest.
      request.set_ttl_ms(1000);
      v1::AcquireResponse response;
      grpc::ClientContext context;
      grpc::Status status = stub.Acquire(&context, request, &response);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          status.error_message().find("another lockd") != std::string::npos) {
        ++refused_as_superseded;
      } else if (status.ok() && response.granted()) {
        tokens.push_back(response.lease().fencing_token());
        v1::ReleaseRequest release;
        *release.mutable_lock() = Ref("split");
        release.set_lease_id(lease);
        v1::ReleaseResponse released;
        grpc::ClientContext release_context;
        EXPECT_TRUE(stub.Release(&release_context, release, &released).ok());
        return;
      } else {
        ASSERT_TRUE(status.ok()) << status.error_message();  // held, as one lockd last loaded it
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << lease << " was never granted";
  };
  for (int round = 0; round < 12; ++round) {
    const std::string suffix = std::string(16 - std::to_string(round).size(), 'a') + std::to_string(round);
    grant_and_release(*stub_, "lease-one-" + suffix);
    grant_and_release(*other_stub, "lease-two-" + suffix);
  }
  ASSERT_EQ(tokens.size(), 24u);
  std::set<uint64_t> distinct(tokens.begin(), tokens.end());
  EXPECT_EQ(distinct.size(), tokens.size()) << ::testing::PrintToString(tokens);
  EXPECT_GT(refused_as_superseded, 0) << "the two never met at a block boundary";
  (*other)->Shutdown(milliseconds(0));
  // Each reservation's record replaces the one before, in the background.
  auto reservations = [&] {
    auto entries = nfs_client_->ReadDir(MetadataStore::VolumeLocksDir(KeyForName("pv-locks")) + "/split");
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? std::count_if(entries->begin(), entries->end(),
                                        [](const nfs::DirEntry& e) { return e.name.starts_with("tokens"); })
                        : -1;
  };
  EXPECT_TRUE(testing::WaitFor([&] { return reservations() == 1; }, seconds(10))) << reservations();
}

// What a grant writes before its answer: the reservation, with the lease's TTL as its grace, once;
// the lease record follows on the worker. A clean stop clears the grace.
TEST_F(LockdServiceTest, GrantsRecordTheirGraceFirstAndACleanStopClearsIt) {
  LeaseStore leases(nfs_client_);
  const std::string key = KeyForName("pv-locks");
  MustAcquire("graced", kLeaseA, v1::EXCLUSIVE, 5000);
  Result<StoredLock> stored = leases.Load(key, "graced");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->grace, milliseconds(5000));
  EXPECT_TRUE(testing::WaitFor([&] {
    Result<StoredLock> now = leases.Load(key, "graced");
    return now.ok() && now->leases.size() == 1 && now->leases[0].lease_id == kLeaseA;
  }, seconds(5)));
  EXPECT_TRUE(Release("graced", kLeaseA));
  // A longer TTL raises the grace before its grant is answered; a shorter one writes nothing.
  MustAcquire("graced", kLeaseB, v1::EXCLUSIVE, 8000);
  EXPECT_TRUE(Release("graced", kLeaseB));
  stored = leases.Load(key, "graced");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->grace, milliseconds(8000));
  const uint64_t generation = stored->generation;
  MustAcquire("graced", kLeaseC, v1::EXCLUSIVE, 2000);
  EXPECT_TRUE(Release("graced", kLeaseC));
  stored = leases.Load(key, "graced");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->generation, generation);

  RestartLockd();
  stored = leases.Load(key, "graced");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->grace.count(), 0);
  EXPECT_TRUE(stored->leases.empty()) << "every record written and deleted before the stop";
  MustAcquire("graced", kLeaseA);  // no grace to wait out
}

// A lockd that stopped without writing every record (a crash) left the grace set and a lease
// without its record: the next lockd grants nothing new for the grace, and the holder reclaims.
TEST_F(LockdServiceTest, AfterACrashNewGrantsWaitForTheGraceAndHoldersReclaim) {
  LeaseStore leases(nfs_client_);
  const std::string key = KeyForName("pv-locks");
  const uint64_t token = MustAcquire("crash", kLeaseA, v1::EXCLUSIVE, 2000);
  StopLockd();
  // The state the crash would have left: the grace still set, and A's record never written.
  Result<StoredLock> stored = leases.Load(key, "crash");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(
      leases.Reserve(key, "crash", stored->generation + 1, {stored->reserved, milliseconds(2000)}).ok());
  ASSERT_TRUE(leases.DeleteLease(key, "crash", kLeaseA).ok());
  StartLockd();
  Connect();
  const auto loaded = std::chrono::steady_clock::now();

  auto renew = [&](const std::string& lease, v1::Mode mode, uint64_t fencing_token) {
    v1::RenewRequest request;
    *request.mutable_lock() = Ref("crash");
    request.set_lease_id(lease);
    request.set_mode(mode);
    request.set_fencing_token(fencing_token);
    v1::RenewResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->Renew(&context, request, &response);
    EXPECT_TRUE(!status.ok() || response.lease().fencing_token() == fencing_token);
    return status;
  };
  auto try_acquire = [&](const std::string& lease) {
    v1::AcquireResponse response;
    EXPECT_TRUE(Acquire(Ref("crash"), lease, v1::EXCLUSIVE, 0, &response, 1000).ok());
    return response.granted() ? std::optional<uint64_t>(response.lease().fencing_token()) : std::nullopt;
  };

  EXPECT_FALSE(try_acquire(kLeaseB).has_value()) << "granted during the grace";
  EXPECT_EQ(Renew("crash", kLeaseA).error_code(), grpc::StatusCode::NOT_FOUND) << "no token: no reclaim";
  EXPECT_EQ(renew(kLeaseA, v1::EXCLUSIVE, stored->reserved + 1).error_code(), grpc::StatusCode::NOT_FOUND)
      << "a token above the reservation was never handed out";
  EXPECT_EQ(renew(kLeaseA, v1::MODE_UNSPECIFIED, token).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "a reclaim names the lease's mode";
  ASSERT_TRUE(renew(kLeaseA, v1::EXCLUSIVE, token).ok());
  v1::InspectResponse inspected = Inspect("crash");
  ASSERT_EQ(inspected.holders_size(), 1);
  EXPECT_EQ(inspected.holders(0).lease_id(), kLeaseA);
  EXPECT_EQ(inspected.holders(0).fencing_token(), token);
  EXPECT_EQ(renew(kLeaseC, v1::SHARED, token > 1 ? token - 1 : token).error_code(),
            grpc::StatusCode::NOT_FOUND)
      << "a shared lease cannot have been held beside an exclusive one";
  EXPECT_TRUE(testing::WaitFor([&] {  // the reclaimed lease is written again
    Result<StoredLock> now = leases.Load(key, "crash");
    return now.ok() && now->leases.size() == 1 && now->leases[0].token == token;
  }, seconds(5)));

  EXPECT_TRUE(Release("crash", kLeaseA));
  EXPECT_FALSE(try_acquire(kLeaseB).has_value()) << "granted during the grace";
  std::optional<uint64_t> granted;
  EXPECT_TRUE(testing::WaitFor([&] { return (granted = try_acquire(kLeaseB)).has_value(); }, seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - loaded, milliseconds(2000));
  ASSERT_TRUE(granted.has_value());
  EXPECT_GT(*granted, stored->reserved) << "tokens continue above the reservation";
  EXPECT_EQ(renew(kLeaseD, v1::EXCLUSIVE, token).error_code(), grpc::StatusCode::NOT_FOUND)
      << "no reclaim after the grace";
}

// With the share away, grants are still answered while their records can wait in the queue; past
// its limit they fail UNAVAILABLE, and holders keep renewing (renewals write nothing).
TEST_F(LockdServiceTest, GrantsFailWhenTooManyRecordsWaitAndRenewalsGoOn) {
  options_.max_queued_writes = 1;
  options_.client_options.call_timeout = seconds(2);
  RestartLockd();
  MustAcquire("outage", kLeaseA, v1::SHARED);  // the reservation: written while the share is there
  ASSERT_TRUE(server_->Pause().ok());
  MustAcquire("outage", kLeaseB, v1::SHARED);  // its record waits, in vain, for the share
  v1::AcquireResponse refused;
  grpc::Status status = Acquire(Ref("outage"), kLeaseC, v1::SHARED, 0, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("waiting to be written"));
  EXPECT_EQ(Inspect("outage").holders_size(), 2) << "the refused grant was taken back";
  EXPECT_TRUE(Renew("outage", kLeaseA).ok());
  EXPECT_TRUE(Renew("outage", kLeaseB).ok());
  ASSERT_TRUE(server_->Resume().ok());
  v1::AcquireResponse granted;
  EXPECT_TRUE(testing::WaitFor([&] {
    return Acquire(Ref("outage"), kLeaseC, v1::SHARED, 0, &granted).ok() && granted.granted();
  }, seconds(20)));
}

TEST_F(LockdServiceTest, ReleasedLeaseRecordIsDeletedAfterTheAnswer) {
  MustAcquire("records", kLeaseA);
  const std::string dir = MetadataStore::VolumeLocksDir(KeyForName("pv-locks")) + "/records";
  auto names = [&] {
    std::vector<std::string> found;
    auto entries = nfs_client_->ReadDir(dir);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (entries.ok()) {
      for (const auto& entry : *entries) found.push_back(entry.name);
    }
    return found;
  };
  // The record is written after the answer, soon.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return ::testing::Value(names(), ::testing::Contains("lease." + kLeaseA)); }, seconds(5)));
  EXPECT_TRUE(Release("records", kLeaseA));
  // The delete runs after the answer; it has to happen soon all the same.
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  auto listed = [&] {
    const std::vector<std::string> now = names();
    return std::find(now.begin(), now.end(), "lease." + kLeaseA) != now.end();
  };
  while (std::chrono::steady_clock::now() < deadline && listed()) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(names(), ::testing::Not(::testing::Contains("lease." + kLeaseA)));
}

TEST_F(LockdServiceTest, BadInputGetsClearErrorsAndTouchesNothing) {
  auto code_and_message = [&](const v1::LockRef& ref, const std::string& lease, v1::Mode mode, uint32_t ttl_ms) {
    v1::AcquireResponse response;
    grpc::Status status = Acquire(ref, lease, mode, 0, &response, ttl_ms);
    return std::make_pair(status.error_code(), status.error_message());
  };
  ObjectId unknown{ObjectKind::kVolume, share_, KeyForName("never-made")};
  unknown.share.nfs_version = "4";
  const std::string unknown_id = EncodeId(unknown).value();

  auto [code, message] = code_and_message(Ref("x", unknown_id), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  std::tie(code, message) = code_and_message(Ref("x", plain_id_), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(message.find("locks: \"true\""), std::string::npos) << message;
  std::tie(code, message) = code_and_message(Ref("a/b"), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  std::tie(code, message) = code_and_message(Ref(".."), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  const std::string long_name(4096, 'n');
  std::tie(code, message) = code_and_message(Ref(long_name), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(message.size(), 300u) << "the message should not echo a 4 KiB name";
  std::tie(code, message) = code_and_message(Ref("x"), kLeaseA, v1::EXCLUSIVE, 0);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  // 49 days, the most the field holds (a year is refused by the client library before sending).
  std::tie(code, message) = code_and_message(Ref("x"), kLeaseA, v1::EXCLUSIVE, 0xffffffffu);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  std::tie(code, message) = code_and_message(Ref("x"), kLeaseA, v1::MODE_UNSPECIFIED, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  std::tie(code, message) = code_and_message(Ref("x"), "short", v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  std::tie(code, message) = code_and_message(Ref("x", std::string(200, 'v')), kLeaseA, v1::EXCLUSIVE, 10000);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
  // None of that left lock state on the share.
  EXPECT_FALSE(std::filesystem::exists(Local(".nfsprov/locks")));
}

TEST_F(LockdServiceTest, ServesTlsAndRequiresClientCertificates) {
  const std::string dir = server_->export_dir() + "/../certs";
  auto certs = testing::MakeTestCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  auto credentials = ServerCredentialsFor({certs->server_cert_file, certs->server_key_file, certs->ca_file});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  RestartLockd(*credentials);  // stub_ stays plaintext: it must get nowhere now

  auto call = [&](const std::string& ca_pem, bool with_client_cert) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem;
    if (with_client_cert) {
      options.pem_cert_chain = testing::ReadWholeFile(certs->client_cert_file);
      options.pem_private_key = testing::ReadWholeFile(certs->client_key_file);
    }
    auto stub = v1::Locks::NewStub(grpc::CreateChannel(address_, grpc::SslCredentials(options)));
    v1::InspectRequest request;
    *request.mutable_lock() = Ref("tls");
    v1::InspectResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    return stub->Inspect(&context, request, &response).error_code();
  };
  EXPECT_EQ(call(certs->ca_pem, true), grpc::StatusCode::OK);
  EXPECT_NE(call(certs->ca_pem, false), grpc::StatusCode::OK);       // no client certificate
  EXPECT_NE(call(certs->other_ca_pem, true), grpc::StatusCode::OK);  // lockd not trusted
  // Plaintext clients get nowhere either.
  v1::InspectResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  v1::InspectRequest request;
  *request.mutable_lock() = Ref("tls");
  EXPECT_NE(stub_->Inspect(&context, request, &response).error_code(), grpc::StatusCode::OK);
}

}  // namespace
}  // namespace nfsprov::lockd
