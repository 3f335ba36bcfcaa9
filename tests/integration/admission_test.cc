// Admission through the Controller against a real nfs-ganesha: concurrent creates never overshoot
// the limit, the ledger is rebuilt from the share by a new controller, shared roots count once,
// expansion is admitted like a create, and the QuotaBackend seam gets the calls docs/quota.md
// describes.
#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "tests/integration/share_test.h"
#include "tests/support/wait_for.h"

namespace nfsprov {
namespace {

using ::testing::ElementsAre;
using testing::WaitFor;
constexpr int64_t kGi = int64_t{1} << 30;

// Records every call; fails SetLimit while `fail` is set.
class RecordingBackend : public QuotaBackend {
 public:
  Status SetLimit(const ShareRef&, const std::string& path, int64_t bytes) override {
    std::lock_guard lock(mu);
    calls.push_back("set " + path + " " + std::to_string(bytes / kGi) + "Gi");
    return fail ? Status(StatusCode::kUnavailable, "quota helper down") : Status();
  }
  Status ClearLimit(const ShareRef&, const std::string& path) override {
    std::lock_guard lock(mu);
    calls.push_back("clear " + path);
    return Status();
  }
  std::mutex mu;
  std::vector<std::string> calls;
  bool fail = false;
};

class AdmissionTest : public ShareTest {
 protected:
  void SetUp() override {
    ShareTest::SetUp();
    if (HasFatalFailure()) return;
    NewController();
  }

  void NewController() {
    ControllerOptions options;
    options.quota_backend = backend_;
    controller_ = std::make_unique<Controller>(options);
  }

  // A class whose share may provision 10 GiB, unless `extra` says otherwise.
  CreateVolumeArgs Args(const std::string& name, int64_t bytes, std::map<std::string, std::string> extra = {}) const {
    extra.emplace("capacity", "10Gi");
    return ShareTest::Args(name, bytes, extra);
  }

  int64_t Available(std::map<std::string, std::string> extra = {}) {
    return Available(*controller_, std::move(extra));
  }
  int64_t Available(Controller& controller, std::map<std::string, std::string> extra = {}) {
    auto available = controller.GetCapacity(Args("unused", 0, std::move(extra)).parameters);
    EXPECT_TRUE(available.ok()) << available.status().ToString();
    return available.ok() ? *available : -1;
  }

  std::shared_ptr<RecordingBackend> backend_ = std::make_shared<RecordingBackend>();
  std::unique_ptr<Controller> controller_;
};

TEST_F(AdmissionTest, ConcurrentCreatesNeverOvershoot) {
  constexpr int kCallers = 32;
  std::atomic<int> admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto made = controller_->CreateVolume(Args("pv-" + std::to_string(i), kGi));
      if (made.ok()) ++admitted;
      if (made.status().code() == StatusCode::kResourceExhausted) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 10);
  EXPECT_EQ(refused.load(), kCallers - 10);
  EXPECT_EQ(Available(), 0);
}

TEST_F(AdmissionTest, ANewControllerCountsWhatIsOnTheShare) {
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-a", 6 * kGi)).ok());
  NewController();
  EXPECT_EQ(Available(), 4 * kGi);
  EXPECT_EQ(controller_->CreateVolume(Args("pv-b", 5 * kGi)).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(controller_->CreateVolume(Args("pv-b", 4 * kGi)).ok());
}

// The sidecars elect their leaders separately, so creates can go to one replica and expansions
// to another: each counts the other's changes from its next listing of the records on.
TEST_F(AdmissionTest, TwoControllersCountEachOthersChangesWithinAUsageInterval) {
  ControllerOptions options;
  options.quota_backend = backend_;
  options.usage.interval = std::chrono::milliseconds(200);
  Controller creates(options), expands(options);
  auto a = creates.CreateVolume(Args("pv-a", 4 * kGi));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Available(expands), 6 * kGi);
  ASSERT_TRUE(expands.ExpandVolume(a->id, {8 * kGi, 0}).ok());
  EXPECT_TRUE(WaitFor([&] { return Available(creates) == 2 * kGi; }, std::chrono::seconds(10)))
      << "still counts " << Available(creates) << " bytes available";
  EXPECT_EQ(creates.CreateVolume(Args("pv-b", 3 * kGi)).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(expands.DeleteVolume(a->id).ok());
  EXPECT_TRUE(WaitFor([&] { return Available(creates) == 10 * kGi; }, std::chrono::seconds(10)));
  EXPECT_TRUE(creates.CreateVolume(Args("pv-b", 10 * kGi)).ok());
}

TEST_F(AdmissionTest, DefaultCapacityOvercommitAndSharedRoots) {
  auto made = controller_->CreateVolume(Args("pv-default", 0, {{"defaultCapacity", "2Gi"}}));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->capacity_bytes, 2 * kGi);
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-r1", 3 * kGi, {{"sharedRoot", "api"}})).ok());
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-r2", 3 * kGi, {{"sharedRoot", "api"}})).ok());
  EXPECT_EQ(Available(), 5 * kGi) << "the root's two 3 GiB volumes are one 3 GiB quota";
  EXPECT_EQ(Available({{"overcommit", "2"}}), 15 * kGi);
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-big", 12 * kGi, {{"overcommit", "2"}})).ok());
  EXPECT_EQ(Available(), 0);
}

TEST_F(AdmissionTest, ExpansionIsAdmittedLikeACreate) {
  auto a = controller_->CreateVolume(Args("pv-a", 4 * kGi));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(controller_->CreateVolume(Args("pv-b", 4 * kGi)).ok());
  auto refused = controller_->ExpandVolume(a->id, {7 * kGi, 0});
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*controller_->GetVolume(a->id)).first.capacity_bytes, 4 * kGi) << "a refused expansion changes nothing";
  EXPECT_TRUE(controller_->ExpandVolume(a->id, {6 * kGi, 0}).ok());
  EXPECT_EQ(Available(), 0);
  ASSERT_TRUE(controller_->DeleteVolume(a->id).ok());
  EXPECT_EQ(Available(), 6 * kGi);
}

TEST_F(AdmissionTest, QuotaBackendGetsTheDirectoryAndItsQuota) {
  auto exclusive = controller_->CreateVolume(Args("pv-x", kGi, {{"subDir", "apps/x"}}));
  ASSERT_TRUE(exclusive.ok());
  ASSERT_TRUE(controller_->ExpandVolume(exclusive->id, {2 * kGi, 0}).ok());
  auto r1 = controller_->CreateVolume(Args("pv-r1", 1 * kGi, {{"sharedRoot", "api"}}));
  auto r2 = controller_->CreateVolume(Args("pv-r2", 3 * kGi, {{"sharedRoot", "api"}, {"subDir", "plugins"}}));
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_TRUE(controller_->DeleteVolume(exclusive->id).ok());
  ASSERT_TRUE(controller_->DeleteVolume(r2->id).ok());  // not the last: the root keeps its limit
  ASSERT_TRUE(controller_->DeleteVolume(r1->id).ok());
  EXPECT_THAT(backend_->calls, ElementsAre("set apps/x 1Gi", "set apps/x 2Gi", "set api 1Gi", "set api 3Gi",
                                           "clear apps/x", "clear api"));

  // A failing backend fails the call; the retry sets the limit again.
  backend_->fail = true;
  EXPECT_EQ(controller_->CreateVolume(Args("pv-y", kGi)).status().code(), StatusCode::kUnavailable);
  backend_->fail = false;
  EXPECT_TRUE(controller_->CreateVolume(Args("pv-y", kGi)).ok());
  EXPECT_EQ(backend_->calls.back(), "set pv-y 1Gi");
}

}  // namespace
}  // namespace nfsprov
