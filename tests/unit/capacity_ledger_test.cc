// Admission arithmetic: what a share has provisioned, shared roots counted once, and Reserve's
// all-or-nothing check.
#include "provisioner/capacity_ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

TEST(CapacityLedgerTest, RestorePutsBackOrRemoves) {
  CapacityLedger ledger;
  ledger.Load({{"a", {kGi, ""}}});
  auto before_a = ledger.Find("a");
  ASSERT_TRUE(ledger.Reserve("a", {2 * kGi, ""}, 100 * kGi).ok());
  ledger.Restore("a", before_a);
  EXPECT_EQ(ledger.Find("a")->capacity_bytes, kGi);
  auto before_b = ledger.Find("b");
  ASSERT_TRUE(ledger.Reserve("b", {kGi, ""}, 100 * kGi).ok());
  ledger.Restore("b", before_b);
  EXPECT_FALSE(ledger.Find("b").has_value());
}

TEST(CapacityLedgerTest, ShareSizeIsRememberedForItsMaxAge) {
  CapacityLedger ledger;
  EXPECT_FALSE(ledger.ShareSize(std::chrono::hours(1)).has_value());
  ledger.SetShareSize(42);
  EXPECT_EQ(ledger.ShareSize(std::chrono::hours(1)), 42);
  EXPECT_FALSE(ledger.ShareSize(std::chrono::nanoseconds(-1)).has_value());
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
