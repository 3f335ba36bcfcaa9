// Pure pieces of the controller: capacity rounding and the per-key lock.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "provisioner/keyed_mutex.h"

namespace nfsprov {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(ResolveCapacityTest, RoundsUpToWholeMiB) {
  EXPECT_EQ(ResolveCapacity({1, 0}).value(), kMiB);
  EXPECT_EQ(ResolveCapacity({kMiB, 0}).value(), kMiB);
  EXPECT_EQ(ResolveCapacity({kMiB + 1, 0}).value(), 2 * kMiB);
}

TEST(ResolveCapacityTest, NeverPastTheLimit) {
  EXPECT_EQ(ResolveCapacity({kMiB + 1, kMiB + 100}).value(), kMiB + 100);
  EXPECT_EQ(ResolveCapacity({0, 3 * kMiB}).value(), 3 * kMiB) << "only a limit: take it";
}

TEST(ResolveCapacityTest, NoRequestMeansZero) { EXPECT_EQ(ResolveCapacity({0, 0}).value(), 0); }

TEST(ResolveCapacityTest, UnsatisfiableRangesAreErrors) {
  EXPECT_EQ(ResolveCapacity({10 * kMiB, kMiB}).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ResolveCapacity({-1, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveCapacity({0, -5}).status().code(), StatusCode::kInvalidArgument);
}

TEST(KeyedMutexTest, SerialisesOneKeyAndFreesIt) {
  KeyedMutex locks;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        KeyedMutex::Lock lock = locks.Acquire("volume-a");
        if (inside.fetch_add(1) != 0) ++overlaps;
        std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(KeyedMutexTest, DifferentKeysDoNotBlockEachOther) {
  KeyedMutex locks;
  KeyedMutex::Lock a = locks.Acquire("a");
  std::atomic<bool> got_b{false};
  std::thread other([&] {
    KeyedMutex::Lock b = locks.Acquire("b");
    got_b = true;
  });
  other.join();  // would hang if "b" waited for "a"
  EXPECT_TRUE(got_b.load());
}

}  // namespace
}  // namespace nfsprov
