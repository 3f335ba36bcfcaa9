// NodeGetVolumeStats arithmetic: a volume's own numbers from its records (StatsFromRecords) and
// the export's from statvfs (StatsFromFs).
#include <gtest/gtest.h>

#include "provisioner/node.h"

namespace nfsprov {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// An export of 100 GiB in 4 KiB blocks, 40 GiB free (30 GiB available to users), and
// 1,000,000 inodes of which 900,000 are free.
struct statvfs Export() {
  struct statvfs fs = {};
  fs.f_frsize = 4096;
  fs.f_blocks = 100 * kGiB / 4096;
  fs.f_bfree = 40 * kGiB / 4096;
  fs.f_bavail = 30 * kGiB / 4096;
  fs.f_files = 1000000;
  fs.f_ffree = 900000;
  return fs;
}

VolumeRecord Volume(int64_t capacity) {
  VolumeRecord v;
  v.name = "pvc-1";
  v.capacity_bytes = capacity;
  return v;
}

UsageRecord Usage(int64_t quota, int64_t used, int64_t inodes) {
  UsageRecord u;
  u.name = "pvc-1";
  u.quota_bytes = quota;
  u.used_bytes = used;
  u.used_inodes = inodes;
  return u;
}

TEST(NodeStats, FromFsIsTheWholeExport) {
  NodeVolumeStats s = StatsFromFs(Export());
  EXPECT_EQ(s.bytes_total, 100 * kGiB);
  EXPECT_EQ(s.bytes_used, 60 * kGiB);
  EXPECT_EQ(s.bytes_available, 30 * kGiB);
  EXPECT_EQ(s.inodes_total, 1000000);
  EXPECT_EQ(s.inodes_free, 900000);
  EXPECT_EQ(s.inodes_used, 100000);
  EXPECT_TRUE(s.has_usage);
  EXPECT_FALSE(s.abnormal);
}

TEST(NodeStats, QuotaAndMeasuredUsage) {
  std::optional<NodeVolumeStats> s =
      StatsFromRecords({Volume(10 * kGiB), Usage(10 * kGiB, 3 * kGiB, 1234)}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->bytes_total, 10 * kGiB);
  EXPECT_EQ(s->bytes_used, 3 * kGiB);
  EXPECT_EQ(s->bytes_available, 7 * kGiB);
  EXPECT_EQ(s->inodes_used, 1234);
  EXPECT_EQ(s->inodes_free, 900000);
  EXPECT_EQ(s->inodes_total, 901234);
  EXPECT_FALSE(s->abnormal);
}

TEST(NodeStats, UsageQuotaWinsOverTheRecordedCapacity) {
  // The scanner's quota is the largest capacity among a shared root's volumes.
  std::optional<NodeVolumeStats> s =
      StatsFromRecords({Volume(5 * kGiB), Usage(20 * kGiB, 8 * kGiB, 10)}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->bytes_total, 20 * kGiB);
  EXPECT_EQ(s->bytes_available, 12 * kGiB);
}

TEST(NodeStats, NotScannedYetIsEmpty) {
  std::optional<NodeVolumeStats> s = StatsFromRecords({Volume(10 * kGiB), std::nullopt}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->bytes_total, 10 * kGiB);
  EXPECT_EQ(s->bytes_used, 0);
  EXPECT_EQ(s->bytes_available, 10 * kGiB);
  EXPECT_EQ(s->inodes_used, 0);
  EXPECT_EQ(s->inodes_total, 900000);
  EXPECT_FALSE(s->abnormal);
}

TEST(NodeStats, OverQuotaIsAbnormalWithNumbers) {
  std::optional<NodeVolumeStats> s =
      StatsFromRecords({Volume(kGiB), Usage(kGiB, 3 * kGiB / 2, 7)}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->abnormal);
  EXPECT_TRUE(s->has_usage);
  EXPECT_EQ(s->message, "over quota: used 1.5 GiB of 1 GiB");
  EXPECT_EQ(s->bytes_total, kGiB);
  EXPECT_EQ(s->bytes_used, 3 * kGiB / 2);
  EXPECT_EQ(s->bytes_available, 0);  // never negative
}

TEST(NodeStats, EnforcementNoneReportsTheNumbersButNoCondition) {
  std::optional<VolumeRecord> volume = Volume(kGiB);
  volume->parameters["quotaEnforcement"] = "none";
  std::optional<NodeVolumeStats> s = StatsFromRecords({volume, Usage(kGiB, 2 * kGiB, 7)}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->abnormal) << s->message;
  EXPECT_EQ(s->bytes_used, 2 * kGiB);
}

TEST(NodeStats, NoQuotaKeepsTheExportsRoom) {
  // A volume without capacity may fill the export: only "used" is its own.
  std::optional<NodeVolumeStats> s = StatsFromRecords({Volume(0), Usage(0, 5 * kGiB, 9)}, Export());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->bytes_total, 100 * kGiB);
  EXPECT_EQ(s->bytes_available, 30 * kGiB);
  EXPECT_EQ(s->bytes_used, 5 * kGiB);
  EXPECT_EQ(s->inodes_used, 9);
  EXPECT_FALSE(s->abnormal);
}

TEST(NodeStats, NothingRecordedFallsBack) {
  EXPECT_FALSE(StatsFromRecords({Volume(0), std::nullopt}, Export()).has_value());
  EXPECT_FALSE(StatsFromRecords({std::nullopt, std::nullopt}, Export()).has_value());
}

}  // namespace
}  // namespace nfsprov
