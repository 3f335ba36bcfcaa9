#include "common/serial_worker.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <vector>

namespace nfsprov {
namespace {

TEST(SerialWorkerTest, RunsTasksInPostedOrder) {
  std::mutex mu;
  std::vector<int> ran;
  SerialWorker worker;
  for (int i = 0; i < 100; ++i) {
    worker.Post([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      ran.push_back(i);
    });
  }
  worker.Drain();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
}

TEST(SerialWorkerTest, PostDoesNotWaitForARunningTask) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  int second_ran = 0;
  SerialWorker worker;
  worker.Post([&] {
    started.set_value();
    released.wait();
  });
  started.get_future().wait();
  worker.Post([&] { ++second_ran; });  // returns although the first task still runs
  EXPECT_EQ(second_ran, 0);
  EXPECT_EQ(worker.backlog(), 2u);
  release.set_value();
  worker.Drain();
  EXPECT_EQ(second_ran, 1);
  EXPECT_EQ(worker.backlog(), 0u);
}

TEST(SerialWorkerTest, DestructorRunsEverythingPostedBeforeIt) {
  int ran = 0;
  {
    SerialWorker worker;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    worker.Post([released] { released.wait(); });
    for (int i = 0; i < 10; ++i) worker.Post([&] { ++ran; });
    release.set_value();
  }
  EXPECT_EQ(ran, 10);
}

}  // namespace
}  // namespace nfsprov
