// Pure pieces of the controller: capacity rounding and the per-key lock.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "provisioner/keyed_mutex.h"
#include "provisioner/layout_gate.h"

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

// What an asynchronous CreateVolume relies on: a name taken without waiting, its lock moved with
// the call and released on another thread, after which the name is free again.
TEST(KeyedMutexTest, TryAcquireFailsWhileHeldAndALockMovesAcrossThreads) {
  KeyedMutex locks;
  std::optional<KeyedMutex::Lock> first = locks.TryAcquire("a");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(locks.TryAcquire("a").has_value());
  EXPECT_TRUE(locks.TryAcquire("b").has_value());
  std::thread([held = std::move(first)]() mutable { held.reset(); }).join();
  std::optional<KeyedMutex::Lock> again = locks.TryAcquire("a");
  EXPECT_TRUE(again.has_value()) << "released on the other thread";
  again.reset();
  KeyedMutex::Lock waited = locks.Acquire("a");
  EXPECT_FALSE(locks.TryAcquire("a").has_value()) << "Acquire and TryAcquire hold the same lock";
}

TEST(LayoutGateTest, SharedHoldsReleasedOnAnotherThreadLetTheExclusiveOneIn) {
  LayoutGate gate;
  std::shared_lock<LayoutGate> create(gate);
  ASSERT_TRUE(gate.try_lock_shared());  // holders share it
  gate.unlock_shared();
  std::atomic<bool> exclusive{false};
  std::thread remover([&] {
    std::unique_lock<LayoutGate> lock(gate);
    exclusive = true;
  });
  // A waiting exclusive holder keeps new shared ones out, so creates cannot starve it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (gate.try_lock_shared()) {
    gate.unlock_shared();
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the exclusive holder never queued";
    std::this_thread::yield();
  }
  EXPECT_FALSE(exclusive.load());
  std::thread([held = std::move(create)]() mutable { held.unlock(); }).join();
  remover.join();
  EXPECT_TRUE(exclusive.load());
  EXPECT_TRUE(gate.try_lock_shared());
  gate.unlock_shared();
}

}  // namespace
}  // namespace nfsprov
