#include "lockd/lease_table.h"

#include <algorithm>

namespace nfsprov::lockd {

namespace {

bool Expired(const Holder& h, SteadyClock::time_point now) { return h.expires <= now; }

}  // namespace

void LeaseTable::Restore(const std::string& lease_id, LockMode mode, uint64_t token,
                         std::chrono::milliseconds ttl, SteadyClock::time_point now) {
  // One ID is at most one entry, even if the same record is restored twice.
  std::erase_if(holders_, [&](const Holder& h) { return h.lease_id == lease_id; });
  std::erase_if(waiters_, [&](const Waiter& w) { return w.lease_id == lease_id; });
  holders_.push_back(Holder{lease_id, mode, token, ttl, now + ttl});
  last_token_ = std::max(last_token_, token);
}

void LeaseTable::HoldGrantsUntil(SteadyClock::time_point until) { grants_held_until_ = until; }

bool LeaseTable::Reclaim(const std::string& lease_id, LockMode mode, uint64_t token,
                         std::chrono::milliseconds ttl, SteadyClock::time_point now) {
  Expire(now);
  if (!InGrace(now) || token == 0 || token > last_token_) return false;
  if (FindHolder(lease_id) || IsWaiting(lease_id)) return false;
  const bool conflicts = std::any_of(holders_.begin(), holders_.end(), [&](const Holder& h) {
    return mode == LockMode::kExclusive || h.mode == LockMode::kExclusive || h.token == token;
  });
  if (conflicts) return false;
  holders_.push_back(Holder{lease_id, mode, token, ttl, now + ttl});
  return true;
}

std::optional<Holder> LeaseTable::Request(const std::string& lease_id, LockMode mode,
                                          std::chrono::milliseconds ttl,
                                          SteadyClock::time_point now) {
  Expire(now);
  if (FindHolder(lease_id)) return Renew(lease_id, std::chrono::milliseconds(0), now);
  auto waiting = std::find_if(waiters_.begin(), waiters_.end(),
                              [&](const Waiter& w) { return w.lease_id == lease_id; });
  if (waiting == waiters_.end()) {
    waiters_.push_back(Waiter{lease_id, mode, ttl, std::nullopt});
  } else {
    waiting->away_until.reset();  // back in its place
  }
  GrantInOrder(now);
  return FindHolder(lease_id);
}

void LeaseTable::Withdraw(const std::string& lease_id, SteadyClock::time_point now) {
  std::erase_if(waiters_, [&](const Waiter& w) { return w.lease_id == lease_id; });
  Expire(now);
}

void LeaseTable::Park(const std::string& lease_id, SteadyClock::time_point until) {
  for (Waiter& w : waiters_) {
    if (w.lease_id == lease_id) w.away_until = until;
  }
}

std::optional<Holder> LeaseTable::Renew(const std::string& lease_id,
                                        std::chrono::milliseconds ttl,
                                        SteadyClock::time_point now) {
  Expire(now);
  for (Holder& h : holders_) {
    if (h.lease_id != lease_id) continue;
    if (ttl.count() != 0) h.ttl = ttl;
    h.expires = now + h.ttl;
    return h;
  }
  return std::nullopt;
}

bool LeaseTable::Release(const std::string& lease_id, SteadyClock::time_point now) {
  // A holder whose lease ran out no longer holds: expire before looking.
  Expire(now);
  const bool held = std::erase_if(holders_, [&](const Holder& h) {
    return h.lease_id == lease_id;
  }) > 0;
  std::erase_if(waiters_, [&](const Waiter& w) { return w.lease_id == lease_id; });
  GrantInOrder(now);
  return held;
}

std::vector<Holder> LeaseTable::Expire(SteadyClock::time_point now) {
  std::vector<Holder> dropped;
  auto stale = std::stable_partition(holders_.begin(), holders_.end(),
                                     [&](const Holder& h) { return !Expired(h, now); });
  dropped.assign(std::make_move_iterator(stale), std::make_move_iterator(holders_.end()));
  holders_.erase(stale, holders_.end());
  std::erase_if(waiters_, [&](const Waiter& w) { return w.away_until && *w.away_until <= now; });
  if (grants_held_until_ && now >= *grants_held_until_) grants_held_until_.reset();
  GrantInOrder(now);
  return dropped;
}

std::optional<Holder> LeaseTable::FindHolder(const std::string& lease_id) const {
  for (const Holder& h : holders_) {
    if (h.lease_id == lease_id) return h;
  }
  return std::nullopt;
}

bool LeaseTable::IsWaiting(const std::string& lease_id) const {
  return std::any_of(waiters_.begin(), waiters_.end(),
                     [&](const Waiter& w) { return w.lease_id == lease_id; });
}

std::optional<SteadyClock::time_point> LeaseTable::NextExpiry() const {
  std::optional<SteadyClock::time_point> next;
  auto consider = [&](SteadyClock::time_point t) {
    if (!next || t < *next) next = t;
  };
  for (const Holder& h : holders_) consider(h.expires);
  for (const Waiter& w : waiters_) {
    if (w.away_until) consider(*w.away_until);
  }
  if (grants_held_until_) consider(*grants_held_until_);
  return next;
}

void LeaseTable::GrantInOrder(SteadyClock::time_point now) {
  if (InGrace(now)) return;
  // Stop at the first waiter that cannot be granted, or is away: nobody overtakes it (no
  // starvation).
  while (!waiters_.empty()) {
    const Waiter& next = waiters_.front();
    if (next.away_until) return;
    const bool compatible =
        holders_.empty() ||
        (next.mode == LockMode::kShared &&
         std::all_of(holders_.begin(), holders_.end(),
                     [](const Holder& h) { return h.mode == LockMode::kShared; }));
    if (!compatible) return;
    holders_.push_back(Holder{next.lease_id, next.mode, ++last_token_, next.ttl, now + next.ttl});
    waiters_.pop_front();
  }
}

}  // namespace nfsprov::lockd
