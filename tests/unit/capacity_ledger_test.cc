// Admission arithmetic: what a share has provisioned, shared roots counted once, and Reserve's
// all-or-nothing check.
#include "provisioner/capacity_ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace nfsprov {
namespace {

using ::testing::HasSubstr;
constexpr int64_t kGi = int64_t{1} << 30;

TEST(CapacityLedgerTest, SharedRootCountsOnceWithItsLargestVolume) {
  CapacityLedger ledger;
  EXPECT_FALSE(ledger.loaded());
  ledger.Load({{"a", {2 * kGi, ""}}, {"b", {3 * kGi, ""}}, {"r1", {1 * kGi, "api"}}, {"r2", {4 * kGi, "api"}},
               {"r3", {4 * kGi, "api"}}, {"s", {kGi, "other"}}});
  EXPECT_TRUE(ledger.loaded());
  EXPECT_EQ(ledger.Provisioned(), (2 + 3 + 4 + 1) * kGi);
  ledger.Remove("r2");
  EXPECT_EQ(ledger.Provisioned(), (2 + 3 + 4 + 1) * kGi) << "r3 still holds the root at 4 GiB";
  ledger.Remove("r3");
  EXPECT_EQ(ledger.Provisioned(), (2 + 3 + 1 + 1) * kGi);
}

TEST(CapacityLedgerTest, ReserveAdmitsUpToTheLimitAndNotABytePast) {
  CapacityLedger ledger;
  ledger.Load({});
  EXPECT_TRUE(ledger.Reserve("a", {6 * kGi, ""}, 10 * kGi).ok());
  EXPECT_TRUE(ledger.Reserve("b", {4 * kGi, ""}, 10 * kGi).ok());
  Status refused = ledger.Reserve("c", {1, ""}, 10 * kGi);
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("over the limit of 10 GiB"));
  EXPECT_THAT(refused.message(), HasSubstr("0 B left"));
  EXPECT_FALSE(ledger.Find("c").has_value()) << "a refused reservation leaves nothing";
  EXPECT_EQ(ledger.Provisioned(), 10 * kGi);
}

TEST(CapacityLedgerTest, ReplacingAnEntryCountsOnlyTheDifference) {
  CapacityLedger ledger;
  ledger.Load({{"a", {8 * kGi, ""}}});
  EXPECT_TRUE(ledger.Reserve("a", {10 * kGi, ""}, 10 * kGi).ok()) << "expansion to exactly the limit";
  EXPECT_EQ(ledger.Reserve("a", {11 * kGi, ""}, 10 * kGi).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.Find("a")->capacity_bytes, 10 * kGi) << "a refused expansion keeps the old size";
  // Over the limit already (the limit was lowered): what does not add is still admitted.
  EXPECT_TRUE(ledger.Reserve("a", {10 * kGi, ""}, 5 * kGi).ok());
  EXPECT_TRUE(ledger.Reserve("r", {1 * kGi, "api"}, 11 * kGi).ok());
  EXPECT_TRUE(ledger.Reserve("r2", {1 * kGi, "api"}, 11 * kGi).ok()) << "a second volume of a root adds nothing";
}

TEST(CapacityLedgerTest, SettlingAFailedCallPutsBackOrRemoves) {
  CapacityLedger ledger;
  ledger.Load({{"a", {kGi, ""}}});
  auto before_a = ledger.Find("a");
  ASSERT_TRUE(ledger.Reserve("a", {2 * kGi, ""}, 100 * kGi).ok());
  ledger.Settle("a", before_a);
  EXPECT_EQ(ledger.Find("a")->capacity_bytes, kGi);
  auto before_b = ledger.Find("b");
  ASSERT_TRUE(ledger.Reserve("b", {kGi, ""}, 100 * kGi).ok());
  ledger.Settle("b", before_b);
  EXPECT_FALSE(ledger.Find("b").has_value());
}

// Another controller created c, expanded b and deleted d; this one deleted a after the listing
// began, and has a reservation for e in flight.
TEST(CapacityLedgerTest, SyncTakesOtherControllersChangesAndKeepsItsOwn) {
  CapacityLedger ledger;
  ledger.Load({{"a", {kGi, ""}}, {"b", {2 * kGi, ""}}, {"d", {4 * kGi, ""}}});
  const uint64_t point = ledger.SyncPoint();
  ledger.Remove("a");
  ASSERT_TRUE(ledger.Reserve("e", {8 * kGi, ""}, 100 * kGi).ok());
  ledger.Sync({{"a", {kGi, ""}}, {"b", {3 * kGi, ""}}, {"c", {16 * kGi, ""}}}, point);
  EXPECT_FALSE(ledger.Find("a").has_value()) << "deleted here after the listing began";
  EXPECT_EQ(ledger.Find("b")->capacity_bytes, 3 * kGi);
  EXPECT_EQ(ledger.Find("c")->capacity_bytes, 16 * kGi);
  EXPECT_FALSE(ledger.Find("d").has_value());
  EXPECT_EQ(ledger.Find("e")->capacity_bytes, 8 * kGi) << "a reservation in flight is not undone";
  EXPECT_EQ(ledger.Provisioned(), (3 + 16 + 8) * kGi);

  // A listing that began after the create of e had settled shows whether e is still there.
  ledger.Settle("e", CapacityLedger::Entry{8 * kGi, ""});
  ledger.Sync({{"a", {kGi, ""}}, {"b", {3 * kGi, ""}}, {"c", {16 * kGi, ""}}}, point);
  EXPECT_TRUE(ledger.Find("e").has_value()) << "settled after the listing's point";
  ledger.Sync({{"b", {3 * kGi, ""}}, {"c", {16 * kGi, ""}}}, ledger.SyncPoint());
  EXPECT_FALSE(ledger.Find("e").has_value()) << "deleted by the other controller since";
  EXPECT_EQ(ledger.Provisioned(), (3 + 16) * kGi);
}

TEST(CapacityLedgerTest, AListingOlderThanTheLastSyncChangesNothing) {
  CapacityLedger ledger;
  const uint64_t old_point = ledger.SyncPoint();
  ledger.Load({{"a", {kGi, ""}}});
  ledger.Remove("a");
  ledger.Sync({}, ledger.SyncPoint());
  ledger.Sync({{"a", {kGi, ""}}}, old_point);  // began before the delete, ended after the sync
  EXPECT_FALSE(ledger.Find("a").has_value());
}

TEST(CapacityLedgerTest, ARemoveBeforeTheFirstLoadStaysRemoved) {
  CapacityLedger ledger;
  const uint64_t point = ledger.SyncPoint();
  ledger.Remove("a");  // a delete that ran while the records were being read
  ledger.Sync({{"a", {kGi, ""}}, {"b", {kGi, ""}}}, point);
  EXPECT_TRUE(ledger.loaded());
  EXPECT_EQ(ledger.Provisioned(), kGi);
}

TEST(CapacityLedgerTest, ShareSizeIsRememberedForItsMaxAge) {
  CapacityLedger ledger;
  EXPECT_FALSE(ledger.ShareSize(std::chrono::hours(1)).has_value());
  ledger.SetShareSize(42);
  EXPECT_EQ(ledger.ShareSize(std::chrono::hours(1)), 42);
  EXPECT_FALSE(ledger.ShareSize(std::chrono::nanoseconds(-1)).has_value());
}

// The totals kept as entries change equal a recount from scratch after every step of a random
// mix of reserves (admitted or refused), restores and removes, with and without shared roots.
TEST(CapacityLedgerTest, KeptTotalsMatchARecountAfterEveryChange) {
  auto recount = [](const std::map<std::string, CapacityLedger::Entry>& model) {
    int64_t total = 0;
    std::map<std::string, int64_t> largest;
    for (const auto& [key, e] : model) {
      if (e.shared_root.empty()) {
        total += e.capacity_bytes;
      } else {
        largest[e.shared_root] = std::max(largest[e.shared_root], e.capacity_bytes);
      }
    }
    for (const auto& [root, bytes] : largest) total += bytes;
    return total;
  };
  std::mt19937 random(7);
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  const std::string roots[] = {"", "", "api", "cache"};
  std::map<std::string, CapacityLedger::Entry> model;
  CapacityLedger ledger;
  ledger.Load({{"k0", {kGi, "api"}}, {"k1", {2 * kGi, ""}}});
  model = {{"k0", {kGi, "api"}}, {"k1", {2 * kGi, ""}}};
  for (int step = 0; step < 5000; ++step) {
    const std::string key = "k" + std::to_string(pick(40));
    const CapacityLedger::Entry entry{pick(8) * kGi, roots[pick(4)]};
    switch (pick(4)) {
      case 0: {
        const std::optional<CapacityLedger::Entry> previous = ledger.Find(key);
        if (ledger.Reserve(key, entry, 60 * kGi).ok()) {
          model[key] = entry;
          if (pick(4) == 0) {  // the call failed after its reservation: put it back
            ledger.Settle(key, previous);
            if (previous) {
              model[key] = *previous;
            } else {
              model.erase(key);
            }
          } else {
            ledger.Settle(key, entry);
          }
        }
        break;
      }
      case 1:
        ledger.Remove(key);
        model.erase(key);
        break;
      case 2:  // a listing that saw everything so far: the model's content
        ledger.Sync(model, ledger.SyncPoint());
        break;
      default:
        if (const auto found = ledger.Find(key); found && !found->shared_root.empty()) {
          EXPECT_EQ(ledger.QuotaOf(*found), [&] {
            int64_t largest = 0;
            for (const auto& [k, e] : model)
              if (e.shared_root == found->shared_root) largest = std::max(largest, e.capacity_bytes);
            return largest;
          }());
        }
    }
    ASSERT_EQ(ledger.Provisioned(), recount(model)) << "after step " << step;
  }
}

TEST(HumanBytesTest, Units) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1 KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(10 * kGi), "10 GiB");
  EXPECT_EQ(HumanBytes(-2 * kGi), "-2 GiB");
}

}  // namespace
}  // namespace nfsprov
