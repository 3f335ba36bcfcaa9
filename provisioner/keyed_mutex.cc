#include "provisioner/keyed_mutex.h"

#include <utility>

namespace nfsprov {

KeyedMutex::Lock KeyedMutex::Acquire(std::string key) {
  std::unique_lock<std::mutex> lock(mu_);
  Entry& entry = entries_[key];
  ++entry.users;
  released_.wait(lock, [&] { return !entry.held; });
  entry.held = true;
  return Lock(this, std::move(key));
}

std::optional<KeyedMutex::Lock> KeyedMutex::TryAcquire(std::string key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = entries_.try_emplace(key);
  if (!added) return std::nullopt;  // an entry exists only while someone holds or waits for it
  it->second.held = true;
  it->second.users = 1;
  return Lock(this, std::move(key));
}

KeyedMutex::Lock::Lock(Lock&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}

KeyedMutex::Lock::~Lock() {
  if (owner_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    auto it = owner_->entries_.find(key_);
    it->second.held = false;
    if (--it->second.users == 0) owner_->entries_.erase(it);
  }
  owner_->released_.notify_all();
}

}  // namespace nfsprov
