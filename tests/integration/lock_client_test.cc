// LockClient against a real lockd (LockService in-process, its state on a real nfs-ganesha):
// grants and fencing tokens, refusals with holder counts, shared holders, FIFO hand-over,
// renewals, wrong secrets, and losing the lease when lockd goes away or forgets it.
#include "lockd/client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <future>
#include <iostream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lockd/lockd.grpc.pb.h"
#include "tests/integration/lockd_test.h"
#include "tests/support/log_capture.h"

namespace nfsprov::lockd {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class LockClientTest : public LockdTest {
 protected:
  std::unique_ptr<LockClient> Client(lockd::LockFile file) {
    auto client = LockClient::Open(std::move(file));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }
  std::unique_ptr<LockClient> Client() { return Client(TestLockFile()); }

  static AcquireOptions Options(std::chrono::milliseconds timeout,
                                LockMode mode = LockMode::kExclusive) {
    AcquireOptions options;
    options.mode = mode;
    options.timeout = timeout;
    return options;
  }
};

TEST_F(LockClientTest, AcquiresAndReleasesWithIncreasingTokens) {
  testing::LogCapture log;
  auto client = Client();
  ASSERT_NE(client, nullptr);
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    auto lease = client->Acquire("job", Options(5s));
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    EXPECT_GT((*lease)->token(), last);
    last = (*lease)->token();
    EXPECT_EQ((*lease)->lease_id().size(), 32u);
    EXPECT_FALSE((*lease)->lost());
    Status released = (*lease)->Release();
    ASSERT_TRUE(released.ok()) << released.ToString();
    EXPECT_TRUE((*lease)->Release().ok());  // idempotent
    std::cout << "acquire+release " << i << ": "
              << std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()
              << " us\n";
  }
  // Uncontended: every try and release went over the client's session, none by the RPCs.
  EXPECT_EQ(log.Count({"method=lockd.Session.Acquire", "result=OK"}), 5);
  EXPECT_EQ(log.Count({"method=lockd.Session.Release", "result=OK"}), 5);
  EXPECT_EQ(log.Count({"method=lockd.Acquire "}), 0);
  EXPECT_EQ(log.Count({"method=lockd.Release "}), 0);
}

TEST_F(LockClientTest, SessionStartsAgainAfterLockdRestarts) {
  testing::LogCapture log;
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto first = client->Acquire("job", Options(0ms));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE((*first)->Release().ok());
  const int port = lockd_->bound_port();
  StopLockd();  // the session's stream breaks
  StartLockd(nullptr, port);
  if (HasFatalFailure()) return;
  auto second = client->Acquire("job", Options(0ms));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT((*second)->token(), (*first)->token());
  ASSERT_TRUE((*second)->Release().ok());
  // Sent again on a new stream, not handed to the RPCs.
  EXPECT_EQ(log.Count({"method=lockd.Session.Acquire", "result=OK"}), 2);
  EXPECT_EQ(log.Count({"method=lockd.Acquire "}), 0);
}

TEST_F(LockClientTest, UnreachableLockdIsUnavailable) {
  const int port = lockd_->bound_port();
  lockd::LockFile file = TestLockFile();
  StopLockd();  // nothing listens on the port now
  auto client = Client(file);
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 2; ++i) {  // a fresh session, then one that never got going
    auto lease = client->Acquire("job", Options(0ms));
    EXPECT_EQ(lease.status().code(), StatusCode::kUnavailable) << lease.status().ToString();
  }
  StartLockd(nullptr, port);
  if (HasFatalFailure()) return;
  // The channel reconnects after its backoff (at most 1 s); a timeout lets the client wait for it.
  auto lease = client->Acquire("job", Options(5s));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_TRUE((*lease)->Release().ok());
}

// lockd as a build without Session serves it: every call but Session (UNIMPLEMENTED).
class UnaryOnlyLocks final : public v1::Locks::Service {
 public:
  explicit UnaryOnlyLocks(v1::Locks::Service& real) : real_(real) {}
  grpc::Status Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
                       v1::AcquireResponse* response) override {
    return real_.Acquire(context, request, response);
  }
  grpc::Status Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                     v1::RenewResponse* response) override {
    return real_.Renew(context, request, response);
  }
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::ReleaseResponse* response) override {
    return real_.Release(context, request, response);
  }

 private:
  v1::Locks::Service& real_;
};

TEST_F(LockClientTest, WorksWithALockdWithoutSessions) {
  UnaryOnlyLocks unary_only(*service_);
  auto endpoint = csi::ParseEndpoint("tcp://127.0.0.1:0");
  ASSERT_TRUE(endpoint.ok());
  auto server = csi::CsiServer::Start(*endpoint, {&unary_only});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  lockd::LockFile file = TestLockFile();
  file.address = "127.0.0.1:" + std::to_string((*server)->bound_port());
  auto client = Client(file);
  auto other = Client(file);
  ASSERT_NE(client, nullptr);
  ASSERT_NE(other, nullptr);

  auto lease = client->Acquire("job", Options(0ms));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  auto refused = other->Acquire("job", Options(0ms));
  EXPECT_EQ(refused.status().code(), StatusCode::kDeadlineExceeded) << refused.status().ToString();
  ASSERT_TRUE((*lease)->Release().ok());
  auto next = other->Acquire("job", Options(1s));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_GT((*next)->token(), (*lease)->token());
  ASSERT_TRUE((*next)->Release().ok());
  (*server)->Shutdown(std::chrono::milliseconds(0));
}

TEST_F(LockClientTest, SecondExclusiveIsRefusedWithHolderCount) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto held = client->Acquire("job", Options(5s));
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  auto tried = client->Acquire("job", Options(0ms));
  ASSERT_FALSE(tried.ok());
  EXPECT_EQ(tried.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(tried.status().message(), HasSubstr("lock job is held: 1 holder(s), 0 waiting"));

  const auto start = Clock::now();
  auto waited = client->Acquire("job", Options(500ms));
  ASSERT_FALSE(waited.ok());
  EXPECT_GE(Clock::now() - start, 500ms);
  EXPECT_EQ(waited.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(waited.status().message(),
              HasSubstr("lock job not acquired within 0.5s: 1 holder(s), 0 waiting"));
  // The timed-out wait gave up the place lockd keeps for a next call: once the holder lets go,
  // the next caller gets the lock at once (a kept place would hold it up for about 1 s).
  ASSERT_TRUE((*held)->Release().ok());
  const auto freed = Clock::now();
  auto next = client->Acquire("job", Options(5s));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_LT(Clock::now() - freed, 700ms);

  // Other names are other locks.
  auto other = client->Acquire("other-job", Options(0ms));
  EXPECT_TRUE(other.ok()) << other.status().ToString();
}

TEST_F(LockClientTest, WaiterGetsTheLockWhenItIsReleased) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto held = client->Acquire("job", Options(5s));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  const uint64_t first = (*held)->token();

  auto waiter = std::async(std::launch::async, [&] { return client->Acquire("job", Options(10s)); });
  EXPECT_EQ(waiter.wait_for(300ms), std::future_status::timeout);
  ASSERT_TRUE((*held)->Release().ok());
  auto granted = waiter.get();
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  EXPECT_GT((*granted)->token(), first);
}

// The grant comes long after the call was sent (more than the TTL): the lease must still start
// with a full local deadline, not one counted from the send and already past.
TEST_F(LockClientTest, LeaseGrantedAfterAWaitLongerThanItsTtlIsKept) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto held = client->Acquire("job", Options(5s));
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  std::atomic<bool> lost{false};
  auto waiter = std::async(std::launch::async, [&] {
    AcquireOptions options = Options(10s);
    options.ttl = 1s;
    options.on_lost = [&](const Status&) { lost = true; };
    return client->Acquire("job", options);
  });
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE((*held)->Release().ok());
  auto granted = waiter.get();
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(lost);
  EXPECT_FALSE((*granted)->lost());
}

TEST_F(LockClientTest, SharedHoldersCoexistAndKeepExclusiveOut) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto a = client->Acquire("cache", Options(5s, LockMode::kShared));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = client->Acquire("cache", Options(0ms, LockMode::kShared));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NE((*a)->token(), (*b)->token());

  auto exclusive = client->Acquire("cache", Options(0ms));
  ASSERT_FALSE(exclusive.ok());
  EXPECT_THAT(exclusive.status().message(), HasSubstr("2 holder(s)"));

  ASSERT_TRUE((*a)->Release().ok());
  ASSERT_TRUE((*b)->Release().ok());
  auto now_free = client->Acquire("cache", Options(0ms));
  EXPECT_TRUE(now_free.ok()) << now_free.status().ToString();
}

TEST_F(LockClientTest, RefusesWrongSecretAndBadInput) {
  lockd::LockFile file = TestLockFile();
  file.secret = key_->SecretFor("some-other-volume");
  auto wrong = Client(file);
  ASSERT_NE(wrong, nullptr);
  auto denied = wrong->Acquire("job", Options(0ms));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied) << denied.status().ToString();
  EXPECT_THAT(denied.status().message(), HasSubstr("127.0.0.1:"));  // names lockd's address

  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto bad_name = client->Acquire("../job", Options(0ms));
  EXPECT_EQ(bad_name.status().code(), StatusCode::kInvalidArgument);
  AcquireOptions short_ttl = Options(0ms);
  short_ttl.ttl = 500ms;
  auto bad_ttl = client->Acquire("job", short_ttl);
  EXPECT_EQ(bad_ttl.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_ttl.status().message(), HasSubstr("below the minimum"));

  auto missing = LockClient::ForVolumeDir(volume_dir_ + "/nowhere");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

TEST_F(LockClientTest, RenewalsKeepTheLeasePastItsTtl) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  AcquireOptions options = Options(5s);
  options.ttl = 1s;
  std::atomic<bool> lost{false};
  options.on_lost = [&](const Status&) { lost = true; };
  auto lease = client->Acquire("job", options);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(lost);
  auto tried = client->Acquire("job", Options(0ms));
  EXPECT_EQ(tried.status().code(), StatusCode::kDeadlineExceeded) << tried.status().ToString();
}

TEST_F(LockClientTest, LeaseIsLostBeforeItsLocalDeadlineWhenLockdStops) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  AcquireOptions options = Options(5s);
  options.ttl = 2s;
  std::promise<std::pair<Status, Clock::time_point>> lost;
  options.on_lost = [&](const Status& why) { lost.set_value({why, Clock::now()}); };
  const auto acquired = Clock::now();
  auto lease = client->Acquire("job", options);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  std::this_thread::sleep_for(900ms);  // past the first renewal (at ttl/3)
  const auto stopped = Clock::now();
  StopLockd();

  auto future = lost.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto [why, when] = future.get();
  EXPECT_EQ(why.code(), StatusCode::kDeadlineExceeded) << why.ToString();
  EXPECT_THAT(why.message(), HasSubstr("lease on lock job not renewed"));
  EXPECT_TRUE((*lease)->lost());
  // The last renewal succeeded at ttl/3 after the acquire at the latest... before the stop: lost
  // a quarter of the TTL before that renewal's local deadline (sent + ttl), never later.
  EXPECT_LT(when, stopped + 1500ms);
  EXPECT_GT(when, acquired + 1000ms);
  std::cout << "lost " << std::chrono::duration_cast<std::chrono::milliseconds>(when - stopped).count()
            << " ms after lockd stopped (ttl 2 s)\n";
  EXPECT_FALSE((*lease)->Release().ok());  // lockd is gone; best effort only
}

TEST_F(LockClientTest, LeaseIsLostWhenLockdNoLongerHoldsIt) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  AcquireOptions options = Options(5s);
  options.ttl = 3s;
  std::promise<Status> lost;
  options.on_lost = [&](const Status& why) { lost.set_value(why); };
  auto lease = client->Acquire("job", options);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();

  // Someone else releases this lease (as lockd would forget an expired one).
  auto stub = v1::Locks::NewStub(
      grpc::CreateChannel(TestLockFile().address, grpc::InsecureChannelCredentials()));
  v1::ReleaseRequest request;
  request.mutable_lock()->set_volume_id(volume_id_);
  request.mutable_lock()->set_secret(key_->SecretFor(volume_id_));
  request.mutable_lock()->set_name("job");
  request.set_lease_id((*lease)->lease_id());
  v1::ReleaseResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Release(&context, request, &response).ok());
  EXPECT_TRUE(response.was_held());

  auto future = lost.get_future();
  ASSERT_EQ(future.wait_for(3s), std::future_status::ready);  // the next renewal, at ttl/3
  Status why = future.get();
  EXPECT_EQ(why.code(), StatusCode::kNotFound) << why.ToString();
  EXPECT_TRUE((*lease)->lost());
}

// lockd crashed before the lease's record was written (the state it leaves is made by hand): the
// restarted lockd does not know the lease, and the renewal reclaims it with its mode and token.
TEST_F(LockClientTest, RenewalReclaimsALeaseARestartedLockdDidNotRecord) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  AcquireOptions options = Options(5s);
  options.ttl = 3s;
  std::atomic<bool> lost{false};
  options.on_lost = [&](const Status&) { lost = true; };
  auto lease = client->Acquire("job", options);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  const int port = lockd_->bound_port();
  StopLockd();
  LeaseStore leases(nfs_client_);
  const std::string key = KeyForName("pv-locks");
  Result<StoredLock> stored = leases.Load(key, "job");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(leases.Reserve(key, "job", stored->generation + 1, {stored->reserved, 3s}).ok());
  ASSERT_TRUE(leases.DeleteLease(key, "job", (*lease)->lease_id()).ok());
  StartLockd(nullptr, port);

  std::this_thread::sleep_for(2500ms);  // two renewals (every ttl/3), past the first one's retries
  EXPECT_FALSE(lost.load());
  EXPECT_FALSE((*lease)->lost());
  auto again = LeaseStore(nfs_client_).Load(key, "job");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->leases.size(), 1u) << "the reclaimed lease is recorded again";
  EXPECT_EQ(again->leases[0].lease_id, (*lease)->lease_id());
  EXPECT_EQ(again->leases[0].token, (*lease)->token());
  EXPECT_TRUE((*lease)->Release().ok());
}

}  // namespace
}  // namespace nfsprov::lockd
