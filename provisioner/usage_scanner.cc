#include "provisioner/usage_scanner.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "nfs/path.h"
#include "nfs/tree.h"

namespace nfsprov {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

UsageScanner::UsageScanner(std::shared_ptr<nfs::Client> client, std::shared_ptr<MetadataStore> store,
                           UsageScanOptions options, std::shared_ptr<CapacityLedger> ledger)
    : client_(std::move(client)), store_(std::move(store)), options_(options), ledger_(std::move(ledger)) {}

UsageScanner::~UsageScanner() { Stop(); }

void UsageScanner::Start() {
  std::lock_guard lock(mu_);
  if (stopping_ || !workers_.empty()) return;
  for (int i = 0; i < std::max(1, options_.concurrency); ++i) workers_.emplace_back([this] { Work(); });
}

void UsageScanner::Stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (std::thread& worker : workers) worker.join();
}

const std::string& UsageScanner::DirectoryOf(const VolumeRecord& volume) {
  return volume.layout == "shared" ? volume.shared_root : volume.path;
}

int64_t UsageScanner::LargestCapacity(const std::vector<Tracked>& volumes) {
  int64_t largest = 0;
  for (const Tracked& v : volumes) largest = std::max(largest, v.capacity_bytes);
  return largest;
}

void UsageScanner::Queue(const std::string& path, const Directory& dir) {
  if (!dir.busy) queue_.emplace(dir.due, path);
}

void UsageScanner::Unqueue(const std::string& path, const Directory& dir) {
  if (!dir.busy) queue_.erase({dir.due, path});
}

void UsageScanner::Track(const VolumeRecord& volume, bool scan_now) {
  {
    std::lock_guard lock(mu_);
    creating_.erase(volume.key);
    const std::string& path = DirectoryOf(volume);
    if (auto moved = directory_of_.find(volume.key);
        moved != directory_of_.end() && moved->second != path) {
      Forget(volume.key, lock);  // its directory changed: a record rewritten by hand
    }
    auto [it, added] = directories_.try_emplace(path);
    Directory& dir = it->second;
    std::erase_if(dir.volumes, [&](const Tracked& v) { return v.key == volume.key; });
    dir.volumes.push_back({volume.name, volume.key, volume.capacity_bytes});
    dir.quota_bytes = LargestCapacity(dir.volumes);
    directory_of_[volume.key] = path;
    if (!scan_now) {
      if (added) {
        dir.due = Clock::now() + options_.interval;
        Queue(path, dir);
      }
      // Due no earlier than the next listing, which the workers already wait for: no need to
      // wake them.
      return;
    }
    if (!added) Unqueue(path, dir);
    dir.due = {};
    // A scan under way measures against the quota it started with: another one follows it.
    if (dir.busy) dir.scan_again = true;
    Queue(path, dir);
  }
  cv_.notify_all();
}

void UsageScanner::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  Forget(key, lock);
}

void UsageScanner::Forget(const std::string& key, const std::lock_guard<std::mutex>&) {
  creating_.erase(key);
  auto found = directory_of_.find(key);
  if (found == directory_of_.end()) return;
  auto it = directories_.find(found->second);
  directory_of_.erase(found);
  if (it == directories_.end()) return;
  Directory& dir = it->second;
  std::erase_if(dir.volumes, [&](const Tracked& v) { return v.key == key; });
  dir.quota_bytes = LargestCapacity(dir.volumes);
  if (dir.volumes.empty() && !dir.busy) {
    Unqueue(it->first, dir);
    directories_.erase(it);
  }
}

uint64_t UsageScanner::scans() const {
  std::lock_guard lock(mu_);
  return scans_;
}

std::vector<UsageScanner::VolumeUsage> UsageScanner::Volumes() const {
  std::lock_guard lock(mu_);
  std::vector<VolumeUsage> volumes;
  for (const auto& [path, dir] : directories_) {
    for (const Tracked& v : dir.volumes) volumes.push_back({v.name, v.capacity_bytes, dir.used_bytes});
  }
  std::sort(volumes.begin(), volumes.end(),
            [](const VolumeUsage& a, const VolumeUsage& b) { return a.name < b.name; });
  return volumes;
}

std::size_t UsageScanner::creating() const {
  std::lock_guard lock(mu_);
  return creating_.size();
}

void UsageScanner::Work() {
  NameThisThread("usage-scan");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    if (!listing_ && listing_due_ <= now) {
      listing_ = true;
      lock.unlock();
      RefreshListing();
      lock.lock();
      listing_ = false;
      continue;
    }
    // The stalest due directory nobody is scanning: the front of the queue.
    if (queue_.empty() || queue_.begin()->first > now) {
      Clock::time_point wake = listing_due_;
      if (!queue_.empty()) wake = std::min(wake, queue_.begin()->first);
      cv_.wait_until(lock, listing_ ? now + options_.interval : wake);
      continue;
    }
    const std::string path = queue_.begin()->second;
    queue_.erase(queue_.begin());
    Directory& next = directories_.at(path);
    next.busy = true;
    Directory snapshot = next;
    lock.unlock();
    Scan(path, std::move(snapshot));
    lock.lock();
  }
}

// Groups the ready volumes by the directory that holds their data; directories keep their due
// time across listings, new ones are due now, vanished ones are dropped.
void UsageScanner::RefreshListing() {
  Directories listed;
  std::unordered_set<std::string> creating;
  const uint64_t ledger_point = ledger_ ? ledger_->SyncPoint() : 0;
  Result<std::vector<VolumeRecord>> records = store_->ListVolumes();
  Status status = records.status();
  if (status.ok()) {
    if (ledger_) ledger_->Sync(LedgerEntries(*records), ledger_point);
    std::vector<std::string> keys;  // sorted: ListVolumes is in key order
    for (const VolumeRecord& r : *records) {
      keys.push_back(r.key);
      if (r.state != VolumeState::kReady) {
        creating.insert(r.key);
        continue;
      }
      Directory& dir = listed[DirectoryOf(r)];
      dir.volumes.push_back({r.name, r.key, r.capacity_bytes});
      dir.quota_bytes = std::max(dir.quota_bytes, r.capacity_bytes);
    }
    status = DropOrphanUsage(keys);
  }
  std::lock_guard lock(mu_);
  listing_due_ = Clock::now() + (status.ok() ? options_.interval : options_.retry_after);
  if (!status.ok()) {
    if (listing_error_ != status.ToString()) {
      listing_error_ = status.ToString();
      spdlog::warn("usage: cannot list the volumes on {}, will retry: {}", client_->url().Display(),
                   listing_error_);
    }
    return;
  }
  listing_error_.clear();
  queue_.clear();
  directory_of_.clear();
  for (auto& [path, dir] : listed) {
    if (auto old = directories_.find(path); old != directories_.end()) {
      dir.due = old->second.due;
      dir.busy = old->second.busy;
      dir.last_error = old->second.last_error;
      dir.used_bytes = old->second.used_bytes;
    }
    Queue(path, dir);
    for (const Tracked& v : dir.volumes) directory_of_[v.key] = path;
  }
  directories_ = std::move(listed);
  creating_ = std::move(creating);
  cv_.notify_all();
}

// A scan that ends after its volume was deleted writes a record nobody removes: remove it here.
Status UsageScanner::DropOrphanUsage(const std::vector<std::string>& volume_keys) {
  Result<std::vector<std::string>> usage_keys = store_->ListUsageKeys();
  if (!usage_keys.ok()) return usage_keys.status();
  for (const std::string& key : *usage_keys) {
    if (!std::binary_search(volume_keys.begin(), volume_keys.end(), key))
      NFSPROV_RETURN_IF_ERROR(store_->DeleteUsage(key));
  }
  return Status();
}

void UsageScanner::Scan(const std::string& path, Directory snapshot) {
  const Clock::time_point start = Clock::now();
  Result<nfs::TreeStats> stats = nfs::ScanTree(*client_, MetadataStore::VolumeDir(path),
                                               nfs::TreeOptions{options_.max_in_flight});
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  Status written = stats.status();
  if (stats.ok()) {
    for (const Tracked& volume : snapshot.volumes) {
      UsageRecord usage{volume.name, volume.key, path, snapshot.quota_bytes,
                        static_cast<int64_t>(stats->used_bytes), static_cast<int64_t>(stats->inodes()),
                        NowUnixMs(), ms};
      written = store_->PutUsage(usage);
      if (!written.ok()) break;
    }
  }
  std::lock_guard lock(mu_);
  auto it = directories_.find(path);
  if (written.ok()) ++scans_;
  if (it == directories_.end()) return;  // its volumes went away meanwhile
  Directory& dir = it->second;
  if (!dir.busy) return;  // made anew while this scan ran (forgotten, then tracked): queued
  dir.busy = false;
  if (stats.ok()) dir.used_bytes = static_cast<int64_t>(stats->used_bytes);
  if (dir.volumes.empty()) {
    directories_.erase(it);
    return;
  }
  if (written.ok()) {
    dir.due = std::exchange(dir.scan_again, false) ? Clock::time_point{}
                                                   : Clock::now() + options_.interval;
    dir.last_error.clear();
    spdlog::debug("usage: {} on {}: {} bytes, {} inodes in {} ms", nfs::QuoteForMessage(path),
                  client_->url().Display(), stats->used_bytes, stats->inodes(), ms);
  } else {
    dir.due = Clock::now() + options_.retry_after;
    if (dir.last_error != written.ToString()) {
      dir.last_error = written.ToString();
      spdlog::warn("usage: cannot measure {} on {} (after {} ms), will retry: {}", nfs::QuoteForMessage(path),
                   client_->url().Display(), ms, dir.last_error);
    }
  }
  Queue(path, dir);
  cv_.notify_all();
}

}  // namespace nfsprov
