// LockTable: POSIX replace/split semantics per owner and the union the server holds.
#include "fusefs/lock_table.h"

#include <fcntl.h>

#include <gtest/gtest.h>

namespace nfsprov::fusefs {
namespace {

TEST(LockTableTest, OwnersConflictOnlyWithWriters) {
  LockTable t;
  t.Apply(1, F_RDLCK, 0, 99);
  EXPECT_FALSE(t.Conflict(2, F_RDLCK, 50, 150));
  EXPECT_TRUE(t.Conflict(2, F_WRLCK, 50, 150));
  EXPECT_FALSE(t.Conflict(2, F_WRLCK, 100, 150));
  EXPECT_FALSE(t.Conflict(1, F_WRLCK, 0, 99));  // an owner never conflicts with itself
}

TEST(LockTableTest, UnlockSplitsAndUnionFollows) {
  LockTable t;
  t.Apply(1, F_WRLCK, 0, UINT64_MAX);
  t.Apply(1, F_UNLCK, 10, 19);
  EXPECT_FALSE(t.Conflict(2, F_WRLCK, 10, 19));
  EXPECT_TRUE(t.Conflict(2, F_RDLCK, 20, 20));
  t.Apply(2, F_RDLCK, 10, 19);
  auto u = t.Union(0, UINT64_MAX);
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].type, F_WRLCK);
  EXPECT_EQ(u[0].end, 9u);
  EXPECT_EQ(u[1].type, F_RDLCK);
  EXPECT_EQ(u[1].start, 10u);
  EXPECT_EQ(u[2].type, F_WRLCK);
  EXPECT_EQ(u[2].end, UINT64_MAX);
  t.Apply(1, F_UNLCK, 0, UINT64_MAX);
  u = t.Union(0, 30);
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].type, F_UNLCK);
  EXPECT_EQ(u[1].type, F_RDLCK);
  EXPECT_EQ(u[2].type, F_UNLCK);
  t.Apply(2, F_UNLCK, 0, UINT64_MAX);
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace nfsprov::fusefs
