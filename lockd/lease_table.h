// LeaseTable: the state of one lock (holders, FIFO queue, fencing counter). Pure: no I/O, no
// clock of its own (every call takes `now`, lockd's steady clock), no locking (the caller holds
// the lock's mutex).
//
// Rules:
//   - Modes: any number of shared holders, or one exclusive holder.
//   - FIFO fairness: a request joins the back of the queue and is granted only when it is
//     compatible with every holder AND every request ahead of it has been granted. A shared
//     request behind a waiting exclusive one therefore waits too: a stream of shared holders
//     cannot starve an exclusive waiter.
//   - Every grant takes the next fencing token (last_token + 1), so tokens strictly increase.
//   - A lease expires at its grant or last renewal + TTL, by `now` as the caller passes it; a
//     client's clock plays no part. An expired holder is dropped by the next call that passes a
//     later `now` (Expire, or any mutating call, which expires first).
//   - A waiter whose call ended ungranted may be parked: it keeps its place, for a repeat of the
//     call (a client waits in calls of bounded length) to resume it, until its time away runs
//     out. While away it is not granted, and nobody behind it is either (strict FIFO).
//   - Lease IDs are the caller's; one ID is at most one holder or one waiter.
//   - Grace: after HoldGrantsUntil(t) nothing is granted before t (requests queue); meanwhile
//     Reclaim puts back holders that the table did not know, as they come forward.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace nfsprov::lockd {

enum class LockMode { kExclusive, kShared };

using SteadyClock = std::chrono::steady_clock;

struct Holder {
  std::string lease_id;
  LockMode mode = LockMode::kExclusive;
  uint64_t token = 0;
  std::chrono::milliseconds ttl{0};
  SteadyClock::time_point expires;
};

struct Waiter {
  std::string lease_id;
  LockMode mode = LockMode::kExclusive;
  std::chrono::milliseconds ttl{0};
  std::optional<SteadyClock::time_point> away_until;  // parked: its place lapses then
};

class LeaseTable {
 public:
  // Tokens handed out continue after `last_token` (0: none granted yet).
  explicit LeaseTable(uint64_t last_token = 0) : last_token_(last_token) {}

  // Puts back a holder persisted by an earlier lockd: it expires at now + its TTL (a restart
  // can make a lease last longer, never shorter). Raises last_token to its token if lower.
  void Restore(const std::string& lease_id, LockMode mode, uint64_t token,
               std::chrono::milliseconds ttl, SteadyClock::time_point now);

  // Grants nothing before `until`: a restarted lockd's grace, while holders of grants the share
  // may not have recorded can still come forward (Reclaim). Waiters keep queueing.
  void HoldGrantsUntil(SteadyClock::time_point until);
  // During the grace only, puts back a holder the table does not know, as its holder presents it
  // (its record had not been written when the lockd before stopped). It expires at now + ttl.
  // Refused (false) outside the grace, for a token of 0 or above last_token, for an ID that
  // holds or waits, and when it conflicts with a holder (exclusive with anyone; shared with an
  // exclusive holder; a holder with the same token): conflicting holders cannot both have been
  // granted.
  bool Reclaim(const std::string& lease_id, LockMode mode, uint64_t token,
               std::chrono::milliseconds ttl, SteadyClock::time_point now);
  bool InGrace(SteadyClock::time_point now) const {
    return grants_held_until_ && now < *grants_held_until_;
  }

  // Asks for the lock: expires stale holders, then queues `lease_id` at the back and grants in
  // FIFO order what can be granted. Returns the holder when lease_id holds the lock afterwards.
  // Asking again for an ID that waits keeps its place (a parked one is back); for one that
  // holds, it keeps its token and is renewed (a retried Acquire starts the client's lease clock
  // anew, so lockd's must too).
  std::optional<Holder> Request(const std::string& lease_id, LockMode mode,
                                std::chrono::milliseconds ttl, SteadyClock::time_point now);

  // Removes a waiter that gives up (timeout, cancelled call), then grants what that unblocks.
  // No-op for an ID that does not wait.
  void Withdraw(const std::string& lease_id, SteadyClock::time_point now);

  // Parks a waiter whose call ended ungranted: it keeps its place until `until` (Request with
  // its ID resumes it; Release or Withdraw give the place up). No-op for an ID that does not wait.
  void Park(const std::string& lease_id, SteadyClock::time_point until);

  // Extends a held lease to now + ttl (ttl 0: its own TTL, otherwise ttl becomes its TTL).
  // Returns the holder afterwards, nullopt when lease_id does not hold the lock (expired,
  // released, unknown).
  std::optional<Holder> Renew(const std::string& lease_id, std::chrono::milliseconds ttl,
                              SteadyClock::time_point now);

  // Drops the holder (or waiter) `lease_id` and grants what that unblocks. Returns whether it
  // held the lock.
  bool Release(const std::string& lease_id, SteadyClock::time_point now);

  // Drops holders whose lease expired at or before `now` and parked waiters whose place lapsed,
  // grants what that unblocks, and returns the dropped holders (the caller deletes their
  // persisted records).
  std::vector<Holder> Expire(SteadyClock::time_point now);

  // The holder with this ID, if it holds the lock (no expiry check).
  std::optional<Holder> FindHolder(const std::string& lease_id) const;
  bool IsWaiting(const std::string& lease_id) const;

  // When Expire will next change something: the earliest holder expiry, parked waiter's lapse
  // or end of the grace; nullopt when there is none.
  std::optional<SteadyClock::time_point> NextExpiry() const;

  const std::vector<Holder>& holders() const { return holders_; }
  const std::deque<Waiter>& waiters() const { return waiters_; }
  uint64_t last_token() const { return last_token_; }

 private:
  void GrantInOrder(SteadyClock::time_point now);

  std::vector<Holder> holders_;
  std::deque<Waiter> waiters_;
  uint64_t last_token_ = 0;
  std::optional<SteadyClock::time_point> grants_held_until_;  // the grace; reset once over
};

}  // namespace nfsprov::lockd
