// CapacityLedger: how many bytes a share has provisioned, for admission (docs/quota.md).
//
// One per share, in memory. Loaded once from the share's volume records, then kept current by the
// controller's own calls (one active controller per share: leader election). What counts:
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

#include "common/status.h"

namespace nfsprov {

class CapacityLedger {
 public:
  struct Entry {
    int64_t capacity_bytes = 0;
    std::string shared_root;  // "" for a volume that owns its directory
    bool operator==(const Entry&) const = default;
  };

  // Replaces the whole content (a fresh load from the records).
  void Load(std::map<std::string, Entry> entries);
  bool loaded() const;

  int64_t Provisioned() const;
  std::optional<Entry> Find(const std::string& key) const;
  // The quota of the directory `entry` binds to: its own capacity, or for a shared root the
  // largest capacity among the root's volumes.
  int64_t QuotaOf(const Entry& entry) const;

  // Records `entry` for `key` (new, or replacing what `key` had) when the total afterwards is at
  // most `limit_bytes`, or is no larger than before (a change that does not add is always
  // admitted). RESOURCE_EXHAUSTED otherwise, naming the numbers; nothing changes then.
  Status Reserve(const std::string& key, const Entry& entry, int64_t limit_bytes);
  // The share's size (FSSTAT), remembered for `max_age` so that admission costs no request.
  std::optional<int64_t> ShareSize(std::chrono::steady_clock::duration max_age) const;
  void SetShareSize(int64_t bytes);

  // Puts back what Find() returned before a Reserve whose call failed (nullopt: removes `key`).
  void Restore(const std::string& key, const std::optional<Entry>& previous);
  void Remove(const std::string& key);

 private:
  int64_t TotalLocked() const { return own_total_ + roots_total_; }
  // Every change of entries_ goes through here (nullopt: removes `key`) to keep the totals.
  void SetLocked(const std::string& key, const std::optional<Entry>& entry);
  void CountLocked(const Entry& entry, int sign);

  mutable std::mutex mu_;
  bool loaded_ = false;
  std::optional<std::pair<int64_t, std::chrono::steady_clock::time_point>> share_size_;
  std::map<std::string, Entry> entries_;
  int64_t own_total_ = 0;    // the volumes that own their directory
  int64_t roots_total_ = 0;  // each shared root's largest capacity
  std::map<std::string, std::multiset<int64_t>> root_capacities_;
};

// "10 GiB", "1.5 MiB", "512 B": for messages.
std::string HumanBytes(int64_t bytes);

}  // namespace nfsprov
