// UsageScanner: measures how much every volume of one share holds, in the background, and writes
// the result on the share as a UsageRecord per volume (docs/quota.md).
//
// What is measured is a directory: a volume's own, or a shared root (once, for all its volumes;
// its quota is the largest capacity among them). Each directory is scanned with the pipelined
// tree engine (nfs::ScanTree: space allocated on the server, and inodes) once per `interval`.
// `concurrency` workers scan at the same time, each picking the directory whose last scan is the
// oldest among those due, so a huge tree holds one worker while the small ones keep being
// scanned by the others. The list of volumes is read from the records once per interval (and
// handed to the capacity ledger, if any); the controller's own creates, expansions and deletes
// update it in between (Track, Forget). A failed scan (server gone, restart) is logged, once per
// distinct error, and the directory is due again after `retry_after`; nothing else is affected.
//
// Cost: picking the next directory, Track and Forget are O(log n) in the number of directories
// (a queue ordered by due time, and an index from volume key to directory); a listing is
// O(n log n) once per interval.
//
// Threading: all methods may be called from any thread. Stop() (also run by the destructor)
// lets running scans finish and joins the workers; a stopped scanner does not start again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "nfs/client.h"
#include "provisioner/capacity_ledger.h"
#include "provisioner/metadata_store.h"

namespace nfsprov {

struct UsageScanOptions {
  std::chrono::milliseconds interval{std::chrono::seconds(60)};
  std::chrono::milliseconds retry_after{std::chrono::seconds(5)};
  int concurrency = 2;
  int max_in_flight = 32;  // per scan: concurrent scans share the connection fairly
};

class UsageScanner {
 public:
  // With a `ledger`, each listing also syncs it with the records (CapacityLedger::Sync).
  UsageScanner(std::shared_ptr<nfs::Client> client, std::shared_ptr<MetadataStore> store,
               UsageScanOptions options, std::shared_ptr<CapacityLedger> ledger = nullptr);
  ~UsageScanner();

  UsageScanner(const UsageScanner&) = delete;
  UsageScanner& operator=(const UsageScanner&) = delete;

  void Start();  // no-op when running or stopped
  void Stop();
  // Adds or updates a ready volume (after a create or an expansion). With `scan_now` its
  // directory is scanned as soon as a worker is free (a copied volume, a new quota); otherwise
  // within one interval (a new empty volume holds nothing yet).
  void Track(const VolumeRecord& volume, bool scan_now);
  void Forget(const std::string& key);  // after a delete

  // Directory scans completed since Start() (tests and logs).
  uint64_t scans() const;

  // For metrics, from memory: every ready volume known (listing, Track, Forget), sorted by name,
  // with its capacity and its directory's last measured usage (none before its first scan; a
  // shared root's whole tree for its volumes), and the volumes whose records said "creating" at
  // the last listing and that this controller has not tracked or forgotten since.
  struct VolumeUsage {
    std::string name;
    int64_t capacity_bytes = 0;
    std::optional<int64_t> used_bytes;
  };
  std::vector<VolumeUsage> Volumes() const;
  std::size_t creating() const;

 private:
  // What a scan needs of a volume; not its whole record, which would be copied on every Track
  // and kept for every volume of the share.
  struct Tracked {
    std::string name;
    std::string key;
    int64_t capacity_bytes = 0;
  };
  struct Directory {
    std::vector<Tracked> volumes;
    int64_t quota_bytes = 0;
    std::chrono::steady_clock::time_point due{};  // epoch: due now
    bool busy = false;
    bool scan_again = false;  // asked for while busy: due again as soon as this scan ends
    std::string last_error;
    std::optional<int64_t> used_bytes;  // the last scan's
  };

  void Work();
  void Forget(const std::string& key, const std::lock_guard<std::mutex>& held);
  // Keep queue_ in step with a directory's due time; only directories not being scanned queue.
  void Queue(const std::string& path, const Directory& dir);
  void Unqueue(const std::string& path, const Directory& dir);
  static const std::string& DirectoryOf(const VolumeRecord& volume);
  static int64_t LargestCapacity(const std::vector<Tracked>& volumes);
  void RefreshListing();  // called with mu_ NOT held
  void Scan(const std::string& path, Directory snapshot);
  Status DropOrphanUsage(const std::vector<std::string>& volume_keys);  // keys sorted

  const std::shared_ptr<nfs::Client> client_;
  const std::shared_ptr<MetadataStore> store_;
  const UsageScanOptions options_;
  const std::shared_ptr<CapacityLedger> ledger_;  // may be null

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool listing_ = false;  // a worker is reading the records
  std::chrono::steady_clock::time_point listing_due_{};  // epoch: list now
  std::string listing_error_;
  // Hashed, not ordered: every CreateVolume updates them (Track) among thousands of volumes.
  using Directories = std::unordered_map<std::string, Directory>;  // by path
  Directories directories_;
  std::set<std::pair<std::chrono::steady_clock::time_point, std::string>> queue_;  // (due, path)
  std::unordered_map<std::string, std::string> directory_of_;  // volume key -> path in directories_
  std::unordered_set<std::string> creating_;                   // keys, see creating()
  std::vector<std::thread> workers_;
  uint64_t scans_ = 0;
};

}  // namespace nfsprov
