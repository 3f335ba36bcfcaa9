// The usage scanner against a real nfs-ganesha: what it writes, shared roots measured once, a big
// tree not holding up small ones, and a server restart in the middle of a scan.
#include "provisioner/usage_scanner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "provisioner/controller.h"
#include "provisioner/object_id.h"
#include "tests/support/delay_proxy.h"
#include "tests/integration/share_test.h"
#include "tests/support/local_tree.h"

namespace nfsprov {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kMi = int64_t{1} << 20;

class UsageScannerTest : public ShareTest {
 protected:

  // A controller whose scanner measures every volume each `interval`, `max_in_flight` requests
  // per scan, through `port` (the server's by default).
  void StartController(std::chrono::milliseconds interval, int concurrency = 2, int max_in_flight = 32,
                       int port = 0) {
    ControllerOptions options;
    options.usage.interval = interval;
    options.usage.max_in_flight = max_in_flight;
    if (port != 0) share_.port = port;
    options.usage.retry_after = std::chrono::milliseconds(200);
    options.usage.concurrency = concurrency;
    options.client.call_timeout = std::chrono::seconds(5);  // a restart cuts calls short
    options.shares = {share_};
    controller_ = std::make_unique<Controller>(options);
  }

  Volume Create(const std::string& name, int64_t bytes, std::map<std::string, std::string> extra = {}) {
    CreateVolumeArgs args = Args(name, bytes, extra);
    auto volume = controller_->CreateVolume(args);
    EXPECT_TRUE(volume.ok()) << name << ": " << volume.status().ToString();
    return volume.ok() ? *volume : Volume{};
  }

  std::optional<UsageRecord> Usage(const std::string& name) {
    auto share = controller_->shares().Get(share_);
    EXPECT_TRUE(share.ok());
    auto usage = share->store->GetUsage(KeyForName(name));
    EXPECT_TRUE(usage.ok()) << usage.status().ToString();
    return usage.ok() ? *usage : std::nullopt;
  }

  // Waits (up to 30 s) for a usage record of `name` that satisfies `good`.
  std::optional<UsageRecord> WaitForUsage(const std::string& name,
                                          const std::function<bool(const UsageRecord&)>& good) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<UsageRecord> usage = Usage(name);
      if (usage && good(*usage)) return usage;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  void WriteFile(const std::string& rel, std::size_t bytes) {
    std::ofstream out(Local(rel), std::ios::binary);
    out << std::string(bytes, 'x');
  }

  // `dirs` directories of `files` one-byte files (and as many in the top one) below
  // <volume>/tree, made on the server's disk directly. Returns the inodes a scan of the volume
  // counts (the volume's directory included).
  int64_t MakeTree(const std::string& volume, int dirs, int files) {
    auto made = testing::MakeTree(Local(volume + "/tree"),
                                  {.fanout_dirs = dirs, .levels = 1, .files_per_dir = files, .file_bytes = 1,
                                   .chain_depth = 0, .outside_target = ""});
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? static_cast<int64_t>(made->entries()) + 1 : 0;
  }

  std::unique_ptr<Controller> controller_;
};

// Track and Forget against a model, on a scanner that is never started (bookkeeping only): every
// volume once, in its own directory or its shared root's, in any order of calls.
TEST_F(UsageScannerTest, TrackAndForgetKeepEveryVolumeOnce) {
  auto client = nfs::Client::Connect(server_->Url());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::shared_ptr<nfs::Client> shared_client(std::move(client).value());
  UsageScanner scanner(shared_client, std::make_shared<MetadataStore>(shared_client), {});
  auto record = [](int i, int64_t capacity) {
    VolumeRecord r;
    r.name = "pv-" + std::to_string(i);
    r.key = KeyForName(r.name);
    r.capacity_bytes = capacity;
    r.state = VolumeState::kReady;
    if (i % 3 == 0) {  // a third share one of five roots
      r.layout = "shared";
      r.shared_root = "root-" + std::to_string(i % 5);
      r.path = r.shared_root + "/" + r.name;
    } else {
      r.path = r.name;
    }
    return r;
  };
  std::map<std::string, int64_t> model;  // name -> capacity
  std::mt19937 random(7);
  for (int step = 0; step < 3000; ++step) {
    const int i = static_cast<int>(random() % 300);
    if (random() % 3 == 0) {
      scanner.Forget(KeyForName("pv-" + std::to_string(i)));
      model.erase("pv-" + std::to_string(i));
    } else {
      const int64_t capacity = 1 + static_cast<int64_t>(random() % 1000);  // created or expanded
      scanner.Track(record(i, capacity), /*scan_now=*/random() % 2 == 0);
      model["pv-" + std::to_string(i)] = capacity;
    }
    if (step % 100 != 99) continue;
    std::map<std::string, int64_t> seen;
    const std::vector<UsageScanner::VolumeUsage> volumes = scanner.Volumes();
    for (const UsageScanner::VolumeUsage& v : volumes) {
      EXPECT_TRUE(seen.emplace(v.name, v.capacity_bytes).second) << v.name << " listed twice";
    }
    ASSERT_EQ(seen, model) << "after step " << step;
    ASSERT_TRUE(std::is_sorted(volumes.begin(), volumes.end(), [](const auto& a, const auto& b) {
      return a.name < b.name;
    })) << "after step " << step;
  }
  scanner.Forget(KeyForName("pv-unknown"));  // not tracked: no-op
  EXPECT_EQ(scanner.Volumes().size(), model.size());
}

TEST_F(UsageScannerTest, MeasuresEachVolumeAgainstItsQuota) {
  StartController(std::chrono::milliseconds(300));
  Create("pv-data", 10 * kMi);
  WriteFile("pv-data/a", 3 * kMi);
  WriteFile("pv-data/b", 1 * kMi);
  std::optional<UsageRecord> usage =
      WaitForUsage("pv-data", [](const UsageRecord& u) { return u.used_inodes == 3; });
  ASSERT_TRUE(usage.has_value()) << "never measured";
  EXPECT_EQ(usage->path, "pv-data");
  EXPECT_EQ(usage->quota_bytes, 10 * kMi);
  EXPECT_GE(usage->used_bytes, 4 * kMi) << "space allocated for two files of 4 MiB";
  EXPECT_LT(usage->used_bytes, 5 * kMi);
  EXPECT_GT(usage->scanned_unix_ms, 0);
  // Usage follows the data (removed through NFS: the server caches what it listed).
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  ASSERT_TRUE(share->client->Unlink("/pv-data/a").ok());
  EXPECT_TRUE(WaitForUsage("pv-data", [](const UsageRecord& u) { return u.used_bytes < 2 * kMi; }));
}

TEST_F(UsageScannerTest, SharedRootIsMeasuredOnceAgainstItsLargestVolume) {
  StartController(std::chrono::milliseconds(300));
  Create("pv-a", 2 * kMi, {{"sharedRoot", "api"}});
  Create("pv-b", 8 * kMi, {{"sharedRoot", "api"}});
  Create("pv-plugins", 1 * kMi, {{"sharedRoot", "api"}, {"subDir", "plugins"}});
  WriteFile("api/cache", 1 * kMi);
  WriteFile("api/plugins/p.so", 1 * kMi);
  for (const char* name : {"pv-a", "pv-b", "pv-plugins"}) {
    std::optional<UsageRecord> usage =
        WaitForUsage(name, [](const UsageRecord& u) { return u.used_bytes >= 2 * kMi; });
    ASSERT_TRUE(usage.has_value()) << name;
    EXPECT_EQ(usage->path, "api") << name << ": the root's usage, subDir included";
    EXPECT_EQ(usage->quota_bytes, 8 * kMi) << name;
  }
}

TEST_F(UsageScannerTest, ExpansionReachesTheUsageRecordWithoutWaitingAnInterval) {
  StartController(std::chrono::hours(1));  // only the controller's own calls trigger scans
  Volume volume = Create("pv-grow", 1 * kMi);
  WriteFile("pv-grow/f", 2 * kMi);
  ASSERT_TRUE(controller_->ExpandVolume(volume.id, {1 * kMi, 0}).ok());  // same size: no scan
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(Usage("pv-grow").has_value()) << "an empty new volume waits for the interval";
  ASSERT_TRUE(controller_->ExpandVolume(volume.id, {4 * kMi, 0}).ok());
  std::optional<UsageRecord> usage =
      WaitForUsage("pv-grow", [](const UsageRecord& u) { return u.quota_bytes == 4 * kMi; });
  ASSERT_TRUE(usage.has_value());
  EXPECT_GE(usage->used_bytes, 2 * kMi);
}

// Through a 10 ms round trip and one request in flight, the big scan takes seconds and the small
// one a few round trips: with two workers the small one does not wait.
TEST_F(UsageScannerTest, ABigTreeDoesNotHoldUpSmallVolumes) {
  auto proxy = testing::DelayProxy::Start(server_->port(), std::chrono::milliseconds(5));
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  StartController(std::chrono::hours(1), /*concurrency=*/2, /*max_in_flight=*/1, (*proxy)->port());
  Volume big = Create("pv-big", 0);
  const int64_t inodes = MakeTree("pv-big", 40, 50);
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  share->usage->Track(big.record, /*scan_now=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the big scan is under way
  Volume small = Create("pv-small", 0);
  WriteFile("pv-small/f", 1000);
  share->usage->Track(small.record, /*scan_now=*/true);
  ASSERT_TRUE(WaitForUsage("pv-small", [](const UsageRecord& u) { return u.used_inodes == 2; }));
  EXPECT_FALSE(Usage("pv-big").has_value()) << "the small volume waited for the big scan";
  EXPECT_TRUE(WaitForUsage("pv-big", [&](const UsageRecord& u) { return u.used_inodes == inodes; }));
}

// An expansion during a scan of its directory: that scan measures against the old quota, so
// another follows it at once rather than an interval later.
TEST_F(UsageScannerTest, ExpansionDuringAScanIsMeasuredRightAfterIt) {
  auto proxy = testing::DelayProxy::Start(server_->port(), std::chrono::milliseconds(5));
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  StartController(std::chrono::hours(1), /*concurrency=*/1, /*max_in_flight=*/1, (*proxy)->port());
  Volume big = Create("pv-big", 1 * kMi);
  const int64_t inodes = MakeTree("pv-big", 40, 50);
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  share->usage->Track(big.record, /*scan_now=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the scan is under way
  ASSERT_FALSE(Usage("pv-big").has_value()) << "the scan ended too soon to test anything";
  ASSERT_TRUE(controller_->ExpandVolume(big.id, {8 * kMi, 0}).ok());
  EXPECT_TRUE(WaitForUsage("pv-big", [&](const UsageRecord& u) {
    return u.quota_bytes == 8 * kMi && u.used_inodes == inodes;
  })) << "the expansion waited for the next interval";
}

TEST_F(UsageScannerTest, ServerRestartMidScanStillCompletes) {
  auto proxy = testing::DelayProxy::Start(server_->port(), std::chrono::milliseconds(5));
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  StartController(std::chrono::hours(1), /*concurrency=*/1, /*max_in_flight=*/1, (*proxy)->port());
  Volume big = Create("pv-big", 0);
  const int64_t inodes = MakeTree("pv-big", 40, 50);
  auto share = controller_->shares().Get(share_);
  ASSERT_TRUE(share.ok());
  share->usage->Track(big.record, /*scan_now=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the scan is under way
  ASSERT_TRUE(server_->Restart().ok());
  std::optional<UsageRecord> measured =
      WaitForUsage("pv-big", [&](const UsageRecord& u) { return u.used_inodes == inodes; });
  EXPECT_TRUE(measured.has_value()) << "the scan cut by the restart was never completed";
}

TEST_F(UsageScannerTest, DeletedVolumesLoseTheirUsageRecord) {
  StartController(std::chrono::milliseconds(200));
  Volume volume = Create("pv-gone", kMi);
  ASSERT_TRUE(WaitForUsage("pv-gone", [](const UsageRecord&) { return true; }));
  ASSERT_TRUE(controller_->DeleteVolume(volume.id).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a scan that was running ends
  EXPECT_FALSE(Usage("pv-gone").has_value());
}

}  // namespace
}  // namespace nfsprov
