// LeaseTable: modes, FIFO fairness, fencing tokens and expiry, all driven by the `now` passed in.
#include "lockd/lease_table.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace nfsprov::lockd {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr milliseconds kTtl{10000};
const SteadyClock::time_point kT0 = SteadyClock::time_point{} + std::chrono::hours(1);

constexpr LockMode kX = LockMode::kExclusive;
constexpr LockMode kS = LockMode::kShared;

std::vector<std::string> HolderIds(const LeaseTable& t) {
  std::vector<std::string> ids;
  for (const Holder& h : t.holders()) ids.push_back(h.lease_id);
  return ids;
}

std::vector<std::string> WaiterIds(const LeaseTable& t) {
  std::vector<std::string> ids;
  for (const Waiter& w : t.waiters()) ids.push_back(w.lease_id);
  return ids;
}

using Ids = std::vector<std::string>;

TEST(LeaseTableTest, FirstRequestIsGrantedWithTokenAndExpiry) {
  LeaseTable t;
  auto h = t.Request("a", kX, kTtl, kT0);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->lease_id, "a");
  EXPECT_EQ(h->mode, kX);
  EXPECT_EQ(h->token, 1u);
  EXPECT_EQ(h->ttl, kTtl);
  EXPECT_EQ(h->expires, kT0 + kTtl);
  EXPECT_EQ(t.last_token(), 1u);
  EXPECT_EQ(t.NextExpiry(), kT0 + kTtl);
}

TEST(LeaseTableTest, ExclusiveExcludesEveryone) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("c", kS, kTtl, kT0));
  EXPECT_EQ(HolderIds(t), Ids{"a"});
  EXPECT_EQ(WaiterIds(t), (Ids{"b", "c"}));
  EXPECT_TRUE(t.IsWaiting("b"));
  EXPECT_FALSE(t.IsWaiting("a"));
  EXPECT_EQ(t.last_token(), 1u);
}

TEST(LeaseTableTest, ExclusiveWaitsForSharedHolders) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("s", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("x", kX, kTtl, kT0));
  EXPECT_TRUE(t.IsWaiting("x"));
}

TEST(LeaseTableTest, SharedHoldersCoexist) {
  LeaseTable t;
  auto a = t.Request("a", kS, kTtl, kT0);
  auto b = t.Request("b", kS, kTtl, kT0);
  auto c = t.Request("c", kS, kTtl, kT0);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(HolderIds(t), (Ids{"a", "b", "c"}));
  EXPECT_LT(a->token, b->token);
  EXPECT_LT(b->token, c->token);
  EXPECT_TRUE(t.waiters().empty());
}

TEST(LeaseTableTest, SharedBehindWaitingExclusiveWaitsSoExclusiveIsNotStarved) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("s1", kS, kTtl, kT0));
  ASSERT_TRUE(t.Request("s2", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("x", kX, kTtl, kT0));
  // Compatible with the shared holders, but behind the exclusive waiter.
  EXPECT_FALSE(t.Request("s3", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("s4", kS, kTtl, kT0));
  EXPECT_EQ(WaiterIds(t), (Ids{"x", "s3", "s4"}));

  EXPECT_TRUE(t.Release("s1", kT0));
  EXPECT_FALSE(t.FindHolder("x")) << "s2 still holds";
  EXPECT_TRUE(t.Release("s2", kT0));
  auto x = t.FindHolder("x");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->token, 3u);
  EXPECT_EQ(HolderIds(t), Ids{"x"});
  EXPECT_EQ(WaiterIds(t), (Ids{"s3", "s4"}));

  // The queued shared requests are granted together once the exclusive one leaves.
  EXPECT_TRUE(t.Release("x", kT0));
  EXPECT_EQ(HolderIds(t), (Ids{"s3", "s4"}));
  EXPECT_TRUE(t.waiters().empty());
  EXPECT_EQ(t.FindHolder("s3")->token, 4u);
  EXPECT_EQ(t.FindHolder("s4")->token, 5u);
}

TEST(LeaseTableTest, GrantStopsAtFirstIncompatibleWaiter) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("x1", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("s1", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("s2", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("x2", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("s3", kS, kTtl, kT0));
  EXPECT_TRUE(t.Release("x1", kT0));
  EXPECT_EQ(HolderIds(t), (Ids{"s1", "s2"}));
  EXPECT_EQ(WaiterIds(t), (Ids{"x2", "s3"}));
}

TEST(LeaseTableTest, GrantedRequestAfterWaitKeepsItsOwnTtl) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, milliseconds(3000), kT0));
  const auto later = kT0 + milliseconds(500);
  EXPECT_TRUE(t.Release("a", later));
  auto b = t.FindHolder("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->ttl, milliseconds(3000));
  EXPECT_EQ(b->expires, later + milliseconds(3000)) << "expiry counts from the grant";
}

TEST(LeaseTableTest, TokensStrictlyIncreaseAcrossGrants) {
  LeaseTable t;
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string id = "lease-" + std::to_string(i);
    auto h = t.Request(id, kX, kTtl, kT0);
    ASSERT_TRUE(h);
    EXPECT_GT(h->token, last);
    last = h->token;
    ASSERT_TRUE(t.Release(id, kT0));
  }
  EXPECT_EQ(t.last_token(), last);
}

TEST(LeaseTableTest, TokensContinueAfterInitialLastToken) {
  LeaseTable t(41);
  auto h = t.Request("a", kX, kTtl, kT0);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->token, 42u);
  EXPECT_EQ(t.last_token(), 42u);
}

TEST(LeaseTableTest, RestoreRaisesLastTokenAndHoldsForAFullTtl) {
  LeaseTable t(5);
  t.Restore("old", kS, 100, kTtl, kT0);
  EXPECT_EQ(t.last_token(), 100u);
  auto old = t.FindHolder("old");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->token, 100u);
  EXPECT_EQ(old->expires, kT0 + kTtl);

  // Shared: a new shared request joins it, with a token above the restored one.
  auto fresh = t.Request("new", kS, kTtl, kT0);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->token, 101u);

  // A restored token below last_token does not lower it.
  t.Restore("older", kS, 7, kTtl, kT0);
  EXPECT_EQ(t.last_token(), 101u);
  EXPECT_EQ(t.Request("next", kS, kTtl, kT0)->token, 102u);
}

TEST(LeaseTableTest, RestoredExclusiveHolderBlocksNewRequests) {
  LeaseTable t;
  t.Restore("old", kX, 9, kTtl, kT0);
  EXPECT_FALSE(t.Request("new", kS, kTtl, kT0));
  EXPECT_TRUE(t.IsWaiting("new"));
}

TEST(LeaseTableTest, ExpiryIsByThePassedNowOnly) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  const auto expires = kT0 + kTtl;

  EXPECT_TRUE(t.Expire(expires - milliseconds(1)).empty());
  EXPECT_TRUE(t.FindHolder("a"));
  EXPECT_TRUE(t.IsWaiting("b"));

  std::vector<Holder> dropped = t.Expire(expires);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].lease_id, "a");
  EXPECT_EQ(dropped[0].token, 1u);
  EXPECT_FALSE(t.FindHolder("a"));
  auto b = t.FindHolder("b");
  ASSERT_TRUE(b) << "the waiter is granted when the holder expires";
  EXPECT_EQ(b->token, 2u);
  EXPECT_EQ(b->expires, expires + kTtl);
  EXPECT_TRUE(t.waiters().empty());
}

TEST(LeaseTableTest, RequestExpiresStaleHoldersFirst) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0 + kTtl - milliseconds(1)));
  auto c = t.Request("c", kX, kTtl, kT0 + kTtl);
  EXPECT_FALSE(c) << "b was queued first";
  EXPECT_FALSE(t.FindHolder("a"));
  EXPECT_TRUE(t.FindHolder("b"));
  EXPECT_EQ(WaiterIds(t), Ids{"c"});
}

TEST(LeaseTableTest, NextExpiryIsTheEarliest) {
  LeaseTable t;
  EXPECT_FALSE(t.NextExpiry());
  ASSERT_TRUE(t.Request("a", kS, milliseconds(5000), kT0));
  ASSERT_TRUE(t.Request("b", kS, milliseconds(2000), kT0));
  ASSERT_TRUE(t.Request("c", kS, milliseconds(9000), kT0));
  EXPECT_EQ(t.NextExpiry(), kT0 + milliseconds(2000));
}

TEST(LeaseTableTest, RenewExtendsTheLease) {
  LeaseTable t;
  auto a = t.Request("a", kX, kTtl, kT0);
  ASSERT_TRUE(a);
  const auto later = kT0 + milliseconds(9000);
  auto renewed = t.Renew("a", milliseconds(0), later);
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->token, a->token) << "a renewal is not a new grant";
  EXPECT_EQ(renewed->ttl, kTtl);
  EXPECT_EQ(renewed->expires, later + kTtl);
  // Still held past the original expiry.
  EXPECT_TRUE(t.Expire(kT0 + kTtl + milliseconds(1)).empty());
  EXPECT_TRUE(t.FindHolder("a"));
}

TEST(LeaseTableTest, RenewWithTtlReplacesTheTtl) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  auto renewed = t.Renew("a", milliseconds(30000), kT0);
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->ttl, milliseconds(30000));
  EXPECT_EQ(renewed->expires, kT0 + milliseconds(30000));
  // Later renewals without a TTL keep the new one.
  EXPECT_EQ(t.Renew("a", milliseconds(0), kT0 + milliseconds(1))->expires,
            kT0 + milliseconds(30001));
}

TEST(LeaseTableTest, RenewFailsAfterExpiryAndGrantsTheNextWaiter) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  // Not yet dropped by anyone: Renew itself must see the lease ran out.
  EXPECT_FALSE(t.Renew("a", milliseconds(0), kT0 + kTtl));
  EXPECT_FALSE(t.FindHolder("a"));
  EXPECT_TRUE(t.FindHolder("b"));
}

TEST(LeaseTableTest, RenewOfUnknownOrWaitingIdFails) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Renew("nobody", milliseconds(0), kT0));
  EXPECT_FALSE(t.Renew("b", milliseconds(0), kT0));
}

TEST(LeaseTableTest, RequestByHolderKeepsItsTokenAndRenews) {
  LeaseTable t;
  auto first = t.Request("a", kX, kTtl, kT0);
  ASSERT_TRUE(first);
  auto again = t.Request("a", kX, kTtl, kT0 + milliseconds(100));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->token, first->token);
  // A retried Acquire restarts the client's lease clock, so lockd's restarts too.
  EXPECT_EQ(again->expires, kT0 + milliseconds(100) + kTtl);
  EXPECT_EQ(t.last_token(), 1u);
  EXPECT_EQ(t.holders().size(), 1u);
  EXPECT_TRUE(t.waiters().empty());
}

TEST(LeaseTableTest, RequestByWaiterIsIdempotent) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("c", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_EQ(WaiterIds(t), (Ids{"b", "c"})) << "b keeps its place and is not queued twice";
}

TEST(LeaseTableTest, WithdrawOfFrontWaiterUnblocksCompatibleOnesBehindIt) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("s1", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("x", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("s2", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("s3", kS, kTtl, kT0));
  t.Withdraw("x", kT0);
  EXPECT_FALSE(t.IsWaiting("x"));
  EXPECT_FALSE(t.FindHolder("x"));
  EXPECT_EQ(HolderIds(t), (Ids{"s1", "s2", "s3"}));
  EXPECT_TRUE(t.waiters().empty());
  EXPECT_EQ(t.FindHolder("s2")->token, 2u) << "a withdrawn waiter took no token";
}

TEST(LeaseTableTest, WithdrawOfHolderOrUnknownIdChangesNothing) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  t.Withdraw("a", kT0);
  t.Withdraw("nobody", kT0);
  EXPECT_EQ(HolderIds(t), Ids{"a"});
  EXPECT_EQ(WaiterIds(t), Ids{"b"});
}

TEST(LeaseTableTest, ReleaseOfWaiterRemovesItAndReturnsFalse) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Release("b", kT0));
  EXPECT_FALSE(t.IsWaiting("b"));
  EXPECT_TRUE(t.Release("a", kT0));
  EXPECT_TRUE(t.holders().empty());
}

TEST(LeaseTableTest, ReleaseOfUnknownIdReturnsFalse) {
  LeaseTable t;
  EXPECT_FALSE(t.Release("nobody", kT0));
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Release("nobody", kT0));
  EXPECT_EQ(HolderIds(t), Ids{"a"});
}

TEST(LeaseTableTest, ParkedWaiterKeepsItsPlaceAndNobodyOvertakesIt) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("c", kX, kTtl, kT0));
  t.Park("b", kT0 + 1s);  // b's call timed out; its next one is on the way
  EXPECT_TRUE(t.Release("a", kT0));
  EXPECT_TRUE(t.holders().empty()) << "c overtook b while b was between two calls";
  EXPECT_EQ(t.NextExpiry(), kT0 + 1s) << "the table changes by itself when b's place lapses";
  // b asks again: back in its place, and first in line.
  std::optional<Holder> b = t.Request("b", kX, kTtl, kT0 + 10ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(WaiterIds(t), Ids{"c"});
}

TEST(LeaseTableTest, ParkedPlaceLapsesAndThoseBehindMoveUp) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("c", kX, kTtl, kT0));
  t.Park("b", kT0 + 1s);
  EXPECT_TRUE(t.Release("a", kT0));
  EXPECT_TRUE(t.Expire(kT0 + 999ms).empty());
  EXPECT_TRUE(t.holders().empty());
  t.Expire(kT0 + 1s);  // b never came back
  EXPECT_FALSE(t.IsWaiting("b"));
  EXPECT_EQ(HolderIds(t), Ids{"c"});
  // Asking again after the lapse is a new request, at the back.
  EXPECT_FALSE(t.Request("b", kX, kTtl, kT0 + 2s));
  EXPECT_EQ(WaiterIds(t), Ids{"b"});
}

TEST(LeaseTableTest, ReleaseOfParkedWaiterGivesThePlaceUpAtOnce) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kS, kTtl, kT0));
  EXPECT_FALSE(t.Request("x", kX, kTtl, kT0));
  EXPECT_FALSE(t.Request("s", kS, kTtl, kT0));
  t.Park("x", kT0 + 1s);
  EXPECT_EQ(HolderIds(t), Ids{"a"}) << "s is behind x, away or not";
  EXPECT_FALSE(t.Release("x", kT0));
  EXPECT_EQ(HolderIds(t), (Ids{"a", "s"}));
  t.Park("nobody", kT0 + 1s);  // not waiting: no-op
  EXPECT_TRUE(t.waiters().empty());
}

TEST(LeaseTableTest, ReleaseAfterExpiryReportsNotHeld) {
  LeaseTable t;
  ASSERT_TRUE(t.Request("a", kX, kTtl, kT0));
  EXPECT_FALSE(t.Release("a", kT0 + kTtl));
  EXPECT_TRUE(t.holders().empty());
}

TEST(LeaseTableTest, NothingIsGrantedDuringTheGraceAndWaitersFollowInOrderAfterIt) {
  LeaseTable t(10);
  t.HoldGrantsUntil(kT0 + 2s);
  EXPECT_TRUE(t.InGrace(kT0));
  EXPECT_FALSE(t.Request("a", kX, kTtl, kT0).has_value());
  EXPECT_FALSE(t.Request("b", kS, kTtl, kT0 + 1s).has_value());
  EXPECT_EQ(WaiterIds(t), (Ids{"a", "b"}));
  EXPECT_EQ(t.NextExpiry(), kT0 + 2s);  // waiters wake when the grace ends
  EXPECT_TRUE(t.Expire(kT0 + 2s - 1ms).empty());
  EXPECT_TRUE(t.holders().empty());
  t.Expire(kT0 + 2s);
  EXPECT_FALSE(t.InGrace(kT0 + 2s));
  EXPECT_EQ(HolderIds(t), (Ids{"a"}));
  EXPECT_EQ(t.holders()[0].token, 11u);
  EXPECT_EQ(WaiterIds(t), (Ids{"b"}));
  EXPECT_EQ(t.NextExpiry(), kT0 + 2s + kTtl) << "the grace is over";
}

TEST(LeaseTableTest, HoldersReclaimDuringTheGraceOnly) {
  LeaseTable t(10);
  EXPECT_FALSE(t.Reclaim("a", kX, 5, kTtl, kT0)) << "no grace";
  t.HoldGrantsUntil(kT0 + 2s);
  EXPECT_FALSE(t.Reclaim("a", kX, 0, kTtl, kT0)) << "token 0 was never handed out";
  EXPECT_FALSE(t.Reclaim("a", kX, 11, kTtl, kT0)) << "above the last token";
  ASSERT_TRUE(t.Reclaim("a", kX, 5, kTtl, kT0));
  ASSERT_EQ(t.holders().size(), 1u);
  EXPECT_EQ(t.holders()[0].token, 5u);
  EXPECT_EQ(t.holders()[0].expires, kT0 + kTtl);
  EXPECT_FALSE(t.Reclaim("a", kX, 5, kTtl, kT0)) << "holds already";
  EXPECT_FALSE(t.Reclaim("b", kS, 6, kTtl, kT0)) << "beside an exclusive holder";
  EXPECT_TRUE(t.Release("a", kT0 + 1s));
  // Shared holders reclaim beside each other, never beside an exclusive one or with one token.
  EXPECT_TRUE(t.Reclaim("b", kS, 6, kTtl, kT0 + 1s));
  EXPECT_TRUE(t.Reclaim("c", kS, 7, kTtl, kT0 + 1s));
  EXPECT_FALSE(t.Reclaim("d", kS, 7, kTtl, kT0 + 1s)) << "two holders with one token";
  EXPECT_FALSE(t.Reclaim("e", kX, 8, kTtl, kT0 + 1s)) << "exclusive beside shared holders";
  EXPECT_FALSE(t.Request("w", kS, kTtl, kT0 + 1s).has_value()) << "new grants wait for the grace";
  EXPECT_FALSE(t.Reclaim("w", kS, 9, kTtl, kT0 + 1s)) << "waits already";
  EXPECT_FALSE(t.Reclaim("f", kS, 9, kTtl, kT0 + 2s)) << "the grace is over";
  EXPECT_EQ(t.last_token(), 11u) << "the waiter was granted the next token once the grace ended";
  EXPECT_EQ(HolderIds(t), (Ids{"b", "c", "w"}));
}

}  // namespace
}  // namespace nfsprov::lockd
