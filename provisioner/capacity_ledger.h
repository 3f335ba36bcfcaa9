// CapacityLedger: how many bytes a share has provisioned, for admission (docs/quota.md).
//
// One per share, in memory. Loaded from the share's volume records, kept current by the
// controller's own calls, and synced with the records again once per usage interval (the usage
// scanner's listing), so that what another controller changed on the share is counted within an
// interval: the sidecars elect their leaders separately, so creates may go to one replica while
// expansions go to another, and a replica that leads again must not count from old memory. A sync
// never undoes this controller's own calls: a reservation stays as it is until its call settles
// it, and a settled change is kept until a listing that started after it (SyncPoint). Two
// controllers admitting at the same moment can still overshoot a limit together. What counts:
// every volume's capacity, except that the volumes of one shared root count once, with the
// largest capacity among them (they share one directory and one quota). A volume without a
// capacity counts 0. Reserve() checks and records in one step under the ledger's lock, so
// concurrent creates cannot overshoot the limit together. Totals are kept as entries change, so
// admission costs O(log n) however many volumes the share has. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace nfsprov {

class CapacityLedger {
 public:
  struct Entry {
    int64_t capacity_bytes = 0;
    std::string shared_root;  // "" for a volume that owns its directory
    bool operator==(const Entry&) const = default;
  };

  // Before reading the records for Sync: numbers this ledger's own changes so far.
  uint64_t SyncPoint() const;
  // Takes the records read after `point` as the truth (entries added, changed, removed) for every
  // key without a reservation in flight and not settled or removed here since `point`. Loads an
  // empty ledger. A sync whose point is older than the last one applied changes nothing.
  void Sync(std::map<std::string, Entry> entries, uint64_t point);
  void Load(std::map<std::string, Entry> entries) { Sync(std::move(entries), SyncPoint()); }
  bool loaded() const;

  int64_t Provisioned() const;
  std::optional<Entry> Find(const std::string& key) const;
  // The quota of the directory `entry` binds to: its own capacity, or for a shared root the
  // largest capacity among the root's volumes.
  int64_t QuotaOf(const Entry& entry) const;

  // Records `entry` for `key` (new, or replacing what `key` had) when the total afterwards is at
  // most `limit_bytes`, or is no larger than before (a change that does not add is always
  // admitted). RESOURCE_EXHAUSTED otherwise, naming the numbers; nothing changes then. An
  // admitted reservation is in flight until Settle.
  Status Reserve(const std::string& key, const Entry& entry, int64_t limit_bytes);
  // The share's size (FSSTAT), remembered for `max_age` so that admission costs no request.
  std::optional<int64_t> ShareSize(std::chrono::steady_clock::duration max_age) const;
  void SetShareSize(int64_t bytes);

  // Ends the call of an admitted Reserve: `key` gets what the call left on the share (its new
  // entry, or what Find() returned before the Reserve of a call that failed; nullopt removes it).
  void Settle(const std::string& key, const std::optional<Entry>& outcome);
  void Remove(const std::string& key);  // after a delete

 private:
  int64_t TotalLocked() const { return own_total_ + roots_total_; }
  // Every change of entries_ goes through here (nullopt: removes `key`) to keep the totals.
  void SetLocked(const std::string& key, const std::optional<Entry>& entry);
  void CountLocked(const Entry& entry, int sign);
  // A change of this controller's own, which a listing older than it must not undo.
  void ChangeOwnLocked(const std::string& key, const std::optional<Entry>& entry);

  mutable std::mutex mu_;
  bool loaded_ = false;
  std::optional<std::pair<int64_t, std::chrono::steady_clock::time_point>> share_size_;
  // Hashed, not ordered: every CreateVolume looks its key up several times among thousands.
  std::unordered_map<std::string, Entry> entries_;
  int64_t own_total_ = 0;    // the volumes that own their directory
  int64_t roots_total_ = 0;  // each shared root's largest capacity
  std::map<std::string, std::multiset<int64_t>> root_capacities_;
  uint64_t own_changes_ = 0;                              // numbers the changes below
  std::unordered_map<std::string, uint64_t> changed_at_;  // own changes since the last Sync's point
  uint64_t synced_point_ = 0;                             // the last Sync's point
  std::unordered_map<std::string, int> reserved_;         // reservations in flight, per key
};

struct VolumeRecord;
// What each record counts for: its capacity, in its shared root if it has one.
std::map<std::string, CapacityLedger::Entry> LedgerEntries(const std::vector<VolumeRecord>& records);

// "10 GiB", "1.5 MiB", "512 B": for messages.
std::string HumanBytes(int64_t bytes);

}  // namespace nfsprov
