// KeyedMutex: one mutex per key, created on demand and freed when nobody holds or waits for it.
// CSI calls on the same volume name or ID are serialised with it; different keys run in parallel.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

namespace nfsprov {

class KeyedMutex {
 public:
  class Lock {
   public:
    Lock(KeyedMutex& owner, std::string key);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    KeyedMutex& owner_;
    std::string key_;
  };

  Lock Acquire(std::string key) { return Lock(*this, std::move(key)); }

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
