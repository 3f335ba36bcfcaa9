// Reaper: empties one share's trash (.nfsprov/trash) in the background.
//
// DeleteVolume only renames a volume directory into the trash (one quick call); the Reaper's
// thread removes what it finds there with the pipelined tree engine (nfs::RemoveTree), one
// entry at a time, on Start(), on Wake() and every `interval`. Each entry gets one log line with
// its duration and result. An entry that cannot be removed stays and is tried again next round;
// its error is logged again only when the message changes, so a stuck entry does not flood the
// log. The trash lives on the share, so work cut short by a controller restart is picked up by
// the next Reaper for that share.
//
// Threading: all methods may be called from any thread. Stop() (also run by the destructor)
// returns promptly when idle: a RemoveTree already running finishes first, no further entry is
// started, and the thread is joined. A stopped Reaper does not start again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "nfs/client.h"
#include "nfs/types.h"

namespace nfsprov {

class Reaper {
 public:
  Reaper(std::shared_ptr<nfs::Client> client, std::chrono::milliseconds interval);
  ~Reaper();

  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void Start();  // no-op when running or stopped
  void Wake();   // runs a round now (or right after the current one)
  void Stop();

  // Entries of the last listing that are not removed yet.
  uint64_t backlog() const { return backlog_.load(); }
  // Entries removed since Start().
  uint64_t reaped() const { return reaped_.load(); }

 private:
  void Run();
  void Round();
  bool Reap(const std::string& name);
  Result<nfs::TreeStats> Remove(const std::string& name);
  void WaitForNextRound();
  bool Stopping();

  const std::shared_ptr<nfs::Client> client_;
  const std::chrono::milliseconds interval_;
  const std::string trash_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool woken_ = false;     // guarded by mu_
  std::thread thread_;     // guarded by mu_

  std::atomic<uint64_t> backlog_{0};
  std::atomic<uint64_t> reaped_{0};

  // Used by the reaper thread only: the last error logged for the listing and for each entry.
  std::string listing_error_;
  std::map<std::string, std::string> entry_errors_;
};

}  // namespace nfsprov
