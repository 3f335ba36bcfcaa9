#include "provisioner/capacity_ledger.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "provisioner/metadata_store.h"

namespace nfsprov {

uint64_t CapacityLedger::SyncPoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return own_changes_;
}

void CapacityLedger::Sync(std::map<std::string, Entry> entries, uint64_t point) {
  std::lock_guard<std::mutex> lock(mu_);
  // A listing that began before the last one applied is older news, and the marks it would need
  // to keep this controller's later changes are gone.
  if (loaded_ && point < synced_point_) return;
  synced_point_ = point;
  auto own = [&](const std::string& key) {
    if (reserved_.count(key) != 0) return true;
    auto changed = changed_at_.find(key);
    return changed != changed_at_.end() && changed->second > point;
  };
  std::vector<std::string> gone;
  for (const auto& [key, entry] : entries_) {
    if (entries.count(key) == 0 && !own(key)) gone.push_back(key);
  }
  for (const std::string& key : gone) SetLocked(key, std::nullopt);
  for (const auto& [key, entry] : entries) {
    auto it = entries_.find(key);
    if (!own(key) && (it == entries_.end() || !(it->second == entry))) SetLocked(key, entry);
  }
  // The records hold every change up to `point` now.
  std::erase_if(changed_at_, [&](const auto& change) { return change.second <= point; });
  loaded_ = true;
}

void CapacityLedger::ChangeOwnLocked(const std::string& key, const std::optional<Entry>& entry) {
  SetLocked(key, entry);
  changed_at_[key] = ++own_changes_;
}

void CapacityLedger::CountLocked(const Entry& entry, int sign) {
  if (entry.shared_root.empty()) {
    own_total_ += sign * entry.capacity_bytes;
    return;
  }
  auto root = root_capacities_.try_emplace(entry.shared_root).first;
  std::multiset<int64_t>& capacities = root->second;
  auto largest = [&] { return capacities.empty() ? 0 : std::max<int64_t>(0, *capacities.rbegin()); };
  roots_total_ -= largest();
  if (sign > 0) {
    capacities.insert(entry.capacity_bytes);
  } else if (auto it = capacities.find(entry.capacity_bytes); it != capacities.end()) {
    capacities.erase(it);
  }
  roots_total_ += largest();
  if (capacities.empty()) root_capacities_.erase(root);
}

void CapacityLedger::SetLocked(const std::string& key, const std::optional<Entry>& entry) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    CountLocked(it->second, -1);
    entries_.erase(it);
  }
  if (!entry) return;
  entries_.emplace(key, *entry);
  CountLocked(*entry, +1);
}

bool CapacityLedger::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

int64_t CapacityLedger::Provisioned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return TotalLocked();
}

std::optional<CapacityLedger::Entry> CapacityLedger::Find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

int64_t CapacityLedger::QuotaOf(const Entry& entry) const {
  if (entry.shared_root.empty()) return entry.capacity_bytes;
  std::lock_guard<std::mutex> lock(mu_);
  auto root = root_capacities_.find(entry.shared_root);
  if (root == root_capacities_.end()) return entry.capacity_bytes;
  return std::max(entry.capacity_bytes, *root->second.rbegin());
}

Status CapacityLedger::Reserve(const std::string& key, const Entry& entry, int64_t limit_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t before = TotalLocked();
  std::optional<Entry> previous;
  if (auto it = entries_.find(key); it != entries_.end()) previous = it->second;
  SetLocked(key, entry);
  const int64_t after = TotalLocked();
  if (after <= limit_bytes || after <= before) {
    ++reserved_[key];
    return Status();
  }
  SetLocked(key, previous);
  return Status(StatusCode::kResourceExhausted,
                "not enough provisionable capacity: " + HumanBytes(after - before) + " more would make " +
                    HumanBytes(after) + " provisioned, over the limit of " + HumanBytes(limit_bytes) +
                    " (" + HumanBytes(std::max<int64_t>(0, limit_bytes - before)) + " left)");
}

void CapacityLedger::Settle(const std::string& key, const std::optional<Entry>& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangeOwnLocked(key, outcome);
  if (auto it = reserved_.find(key); it != reserved_.end() && --it->second == 0) reserved_.erase(it);
}

std::optional<int64_t> CapacityLedger::ShareSize(std::chrono::steady_clock::duration max_age) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!share_size_ || std::chrono::steady_clock::now() - share_size_->second > max_age) return std::nullopt;
  return share_size_->first;
}

void CapacityLedger::SetShareSize(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  share_size_ = {bytes, std::chrono::steady_clock::now()};
}

void CapacityLedger::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangeOwnLocked(key, std::nullopt);
}

std::map<std::string, CapacityLedger::Entry> LedgerEntries(const std::vector<VolumeRecord>& records) {
  std::map<std::string, CapacityLedger::Entry> entries;
  for (const VolumeRecord& record : records) entries[record.key] = {record.capacity_bytes, record.shared_root};
  return entries;
}

std::string HumanBytes(int64_t bytes) {
  constexpr std::array<const char*, 7> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (std::abs(value) >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0 || value == static_cast<double>(static_cast<int64_t>(value))) {
    std::snprintf(text, sizeof(text), "%lld %s", static_cast<long long>(value), kUnits[unit]);
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  }
  return text;
}

}  // namespace nfsprov
