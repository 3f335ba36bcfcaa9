#include "provisioner/keyed_mutex.h"

namespace nfsprov {

KeyedMutex::Lock::Lock(KeyedMutex& owner, std::string key) : owner_(owner), key_(std::move(key)) {
  std::unique_lock<std::mutex> lock(owner_.mu_);
  Entry& entry = owner_.entries_[key_];
  ++entry.users;
  owner_.released_.wait(lock, [&] { return !entry.held; });
  entry.held = true;
}

KeyedMutex::Lock::~Lock() {
  {
    std::lock_guard<std::mutex> lock(owner_.mu_);
    auto it = owner_.entries_.find(key_);
    it->second.held = false;
    if (--it->second.users == 0) owner_.entries_.erase(it);
  }
  owner_.released_.notify_all();
}

}  // namespace nfsprov
