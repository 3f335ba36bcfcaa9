// QuotaWatch: polls its probe on its own thread, reports changes only, and keeps the last answer
// while the probe fails. The probe is a plain function here: what it reads (the usage record on
// the share) is covered by tests/integration/quota_enforcement_test.cc.
#include "fusefs/quota_watch.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace nfsprov::fusefs {
namespace {

using namespace std::chrono_literals;

// A probe whose answer the test sets, counting its calls, and a record of the changes reported.
struct Script {
  std::mutex mu;
  Result<bool> answer = false;
  std::atomic<int> polls{0};
  std::vector<bool> changes;

  QuotaWatch::Probe Probe() {
    return [this]() -> Result<bool> {
      std::lock_guard<std::mutex> lock(mu);
      ++polls;
      return answer;
    };
  }
  std::function<void(bool)> OnChange() {
    return [this](bool over) {
      std::lock_guard<std::mutex> lock(mu);
      changes.push_back(over);
    };
  }
  void Set(Result<bool> next) {
    std::lock_guard<std::mutex> lock(mu);
    answer = std::move(next);
  }
  std::vector<bool> Changes() {
    std::lock_guard<std::mutex> lock(mu);
    return changes;
  }
  // Waits until the probe has run `more` more times after the call.
  void WaitPolls(int more) {
    int target = polls + more;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (polls < target && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    ASSERT_GE(polls, target) << "the watch stopped polling";
  }
};

TEST(QuotaWatch, ReportsEachChangeOnceAndKeepsTheLastAnswerWhileFailing) {
  Script s;
  QuotaWatch watch(s.Probe(), 5ms, "key1", s.OnChange());
  s.WaitPolls(3);
  EXPECT_EQ(s.Changes(), std::vector<bool>{}) << "not over at start: nothing changed";

  s.Set(true);
  s.WaitPolls(3);
  EXPECT_EQ(s.Changes(), std::vector<bool>{true});

  s.Set(Unavailable("share unreachable"));
  s.WaitPolls(3);
  EXPECT_EQ(s.Changes(), std::vector<bool>{true}) << "a failure must not lift the refusal";

  s.Set(true);
  s.WaitPolls(2);
  EXPECT_EQ(s.Changes(), std::vector<bool>{true}) << "same answer after a failure: no change";

  s.Set(false);
  s.WaitPolls(2);
  EXPECT_EQ(s.Changes(), (std::vector<bool>{true, false}));
}

TEST(QuotaWatch, FirstAnswerCountsAtOnceAndPollsFollowTheInterval) {
  Script s;
  s.Set(true);
  auto start = std::chrono::steady_clock::now();
  {
    QuotaWatch watch(s.Probe(), 200ms, "key2", s.OnChange());
    s.WaitPolls(1);
    std::this_thread::sleep_for(300ms);
  }  // the destructor stops the thread in the middle of a wait
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.Changes(), std::vector<bool>{true});
  // One at start, one 200 ms later; a third only if this thread was held up for 100 ms.
  EXPECT_GE(s.polls, 2);
  EXPECT_LE(s.polls, 3);
  EXPECT_LT(elapsed, 1s) << "stopping must not wait for the next poll";
}

}  // namespace
}  // namespace nfsprov::fusefs
