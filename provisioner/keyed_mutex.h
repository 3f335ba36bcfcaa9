// KeyedMutex: one mutex per key, created on demand and freed when nobody holds or waits for it.
// CSI calls on the same volume name or ID are serialised with it; different keys run in parallel.
// A Lock may be moved to, and released on, another thread (a call that finishes on the NFS event
// loop releases it there).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace nfsprov {

class KeyedMutex {
 public:
  class Lock {
   public:
    ~Lock();
    Lock(Lock&& other) noexcept;
    Lock& operator=(Lock&&) = delete;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    friend class KeyedMutex;
    Lock(KeyedMutex* owner, std::string key) : owner_(owner), key_(std::move(key)) {}

    KeyedMutex* owner_;  // null once moved from
    std::string key_;
  };

  // Waits until `key` is free.
  Lock Acquire(std::string key);
  // nullopt when `key` is held (or waited for) now.
  std::optional<Lock> TryAcquire(std::string key);

 private:
  struct Entry {
    bool held = false;
    int users = 0;  // holder + waiters
  };
  std::mutex mu_;
  std::condition_variable released_;
  std::map<std::string, Entry> entries_;
};

}  // namespace nfsprov
