// The over-quota verdict and when it is reported.
#include "provisioner/quota.h"

#include <gtest/gtest.h>

namespace nfsprov {
namespace {

constexpr int64_t kMi = int64_t{1} << 20;

UsageRecord Usage(int64_t used, int64_t quota) {
  UsageRecord usage;
  usage.used_bytes = used;
  usage.quota_bytes = quota;
  return usage;
}

TEST(QuotaTest, OverOnlyWhenUsageExceedsAQuota) {
  EXPECT_EQ(OverQuota(Usage(3 * kMi, 2 * kMi)), "over quota: used 3 MiB of 2 MiB");
  EXPECT_FALSE(OverQuota(Usage(2 * kMi, 2 * kMi)).has_value()) << "at the quota is not over it";
  EXPECT_FALSE(OverQuota(Usage(3 * kMi, 0)).has_value()) << "no quota";
}

TEST(QuotaTest, EnforcementNoneReportsNothing) {
  VolumeRecord volume;
  EXPECT_TRUE(QuotaCondition(volume, Usage(3 * kMi, 2 * kMi)).has_value()) << "report is the default";
  volume.parameters["quotaEnforcement"] = "readonly";
  EXPECT_TRUE(QuotaCondition(volume, Usage(3 * kMi, 2 * kMi)).has_value());
  volume.parameters["quotaEnforcement"] = "none";
  EXPECT_FALSE(QuotaCondition(volume, Usage(3 * kMi, 2 * kMi)).has_value());
}

}  // namespace
}  // namespace nfsprov
