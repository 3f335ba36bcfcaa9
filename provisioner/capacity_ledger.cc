#include "provisioner/capacity_ledger.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace nfsprov {

void CapacityLedger::Load(std::map<std::string, Entry> entries) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_ = std::move(entries);
  loaded_ = true;
}

bool CapacityLedger::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

int64_t CapacityLedger::TotalLocked() const {
  int64_t total = 0;
  std::map<std::string, int64_t> roots;  // root -> largest capacity
  for (const auto& [key, entry] : entries_) {
    if (entry.shared_root.empty()) {
      total += entry.capacity_bytes;
    } else {
      int64_t& largest = roots[entry.shared_root];
      largest = std::max(largest, entry.capacity_bytes);
    }
  }
  for (const auto& [root, largest] : roots) total += largest;
  return total;
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
  int64_t largest = entry.capacity_bytes;
  for (const auto& [key, other] : entries_)
    if (other.shared_root == entry.shared_root) largest = std::max(largest, other.capacity_bytes);
  return largest;
}

Status CapacityLedger::Reserve(const std::string& key, const Entry& entry, int64_t limit_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t before = TotalLocked();
  std::optional<Entry> previous;
  if (auto it = entries_.find(key); it != entries_.end()) previous = it->second;
  entries_[key] = entry;
  const int64_t after = TotalLocked();
  if (after <= limit_bytes || after <= before) return Status();
  if (previous) {
    entries_[key] = *previous;
  } else {
    entries_.erase(key);
  }
  return Status(StatusCode::kResourceExhausted,
                "not enough provisionable capacity: " + HumanBytes(after - before) + " more would make " +
                    HumanBytes(after) + " provisioned, over the limit of " + HumanBytes(limit_bytes) +
                    " (" + HumanBytes(std::max<int64_t>(0, limit_bytes - before)) + " left)");
}

void CapacityLedger::Restore(const std::string& key, const std::optional<Entry>& previous) {
  std::lock_guard<std::mutex> lock(mu_);
  if (previous) {
    entries_[key] = *previous;
  } else {
    entries_.erase(key);
  }
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
  entries_.erase(key);
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
