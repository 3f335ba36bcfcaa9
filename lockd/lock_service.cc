#include "lockd/lock_service.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "csi/serve.h"
#include "lockd/lock_request.h"
#include "provisioner/metadata_store.h"
#include "provisioner/object_id.h"

namespace nfsprov::lockd {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// How often a queued Acquire looks whether its caller went away.
constexpr milliseconds kCancelPoll{200};
// How long a wait that ended ungranted keeps its place in the queue for the caller's next call
// with the same lease ID (clients wait in calls of bounded length: lockd/client.cc asks again at
// once). Releasing the lease ID gives the place up at once.
constexpr milliseconds kKeepPlace{1000};

Status PermissionDenied(std::string message) {
  return {StatusCode::kPermissionDenied, std::move(message)};
}

// What goes into the log line: a volume ID never longer than CSI allows.
std::string LoggedId(const std::string& volume_id) {
  return volume_id.size() <= kMaxIdBytes ? volume_id : volume_id.substr(0, kMaxIdBytes) + "...";
}

Result<LockMode> ModeOf(v1::Mode mode) {
  switch (mode) {
    case v1::EXCLUSIVE:
      return LockMode::kExclusive;
    case v1::SHARED:
      return LockMode::kShared;
    default:
      return InvalidArgument("mode must be EXCLUSIVE or SHARED");
  }
}

v1::Mode ProtoMode(LockMode mode) { return mode == LockMode::kShared ? v1::SHARED : v1::EXCLUSIVE; }

void FillLease(const Holder& holder, SteadyClock::time_point now, v1::Lease* lease) {
  lease->set_lease_id(holder.lease_id);
  lease->set_mode(ProtoMode(holder.mode));
  lease->set_fencing_token(holder.token);
  lease->set_ttl_ms(static_cast<uint32_t>(holder.ttl.count()));
  const auto remaining = std::max(milliseconds(0), duration_cast<milliseconds>(holder.expires - now));
  lease->set_remaining_ms(static_cast<uint32_t>(remaining.count()));
}

// The end of a queued Acquire: its wait_ms, and the call's own deadline less a margin for the reply.
SteadyClock::time_point WaitDeadline(const grpc::ServerContext& context, milliseconds wait,
                                     SteadyClock::time_point now) {
  SteadyClock::time_point end = now + wait;
  const auto call_deadline = context.deadline();
  if (call_deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = call_deadline - std::chrono::system_clock::now() - milliseconds(50);
    end = std::min(end, now + duration_cast<milliseconds>(std::max(left, decltype(left)::zero())));
  }
  return end;
}

// The volume's record exists (NOT_FOUND) and its class asked for locks (FAILED_PRECONDITION).
Status CheckLockable(MetadataStore& store, const std::string& volume_id, const std::string& key) {
  Result<std::optional<VolumeRecord>> record = store.GetVolume(key);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return NotFound("volume " + volume_id + " does not exist");
  const auto& params = (*record)->parameters;
  auto locks = params.find("locks");
  if (locks == params.end() || locks->second != "true") {
    return FailedPrecondition("volume " + volume_id +
                              " was not provisioned by a StorageClass with locks: \"true\"");
  }
  return {};
}

}  // namespace

struct LockService::Volume {
  std::string id;  // the CSI volume ID
  ObjectId decoded;
};

struct LockService::Share {
  explicit Share(const std::shared_ptr<nfs::Client>& client)
      : store(std::make_unique<MetadataStore>(client)), leases(client) {}
  std::unique_ptr<MetadataStore> store;
  LeaseStore leases;
  std::mutex mu;
  std::map<std::string, SteadyClock::time_point> checked;  // volume key -> when found lockable
};

struct LockService::Lock {
  std::shared_ptr<Share> share;
  std::string volume_key;
  std::string name;
  std::mutex mu;
  bool loaded = false;  // guarded by mu, as everything below
  LeaseTable table;
  uint64_t generation = 0;  // of the persisted token reservation
  uint64_t reserved = 0;    // the persisted token reservation
  milliseconds grace{0};    // the persisted reservation's grace: no grant answered has a longer TTL
  // Queued Acquire calls, each sleeping on its own condition variable: a change wakes only those
  // it granted or dropped, not every waiter (64 waiters, one grant: one wake-up, not 64).
  std::map<std::string, std::condition_variable*> sleepers;
  // The service's totals, and what this lock last added to them.
  std::atomic<int64_t>* held_total = nullptr;
  std::atomic<int64_t>* waiting_total = nullptr;
  SerialWorker* record_writes = nullptr;  // the service's
  std::atomic<int64_t>* failed_writes = nullptr;  // the service's: background writes that failed
  int64_t held = 0, waiting = 0;

  // Brings the service's totals up to date with the table; after every change of it.
  void PublishLocked() {
    const auto now_held = static_cast<int64_t>(table.holders().size());
    const auto now_waiting = static_cast<int64_t>(table.waiters().size());
    held_total->fetch_add(now_held - std::exchange(held, now_held));
    waiting_total->fetch_add(now_waiting - std::exchange(waiting, now_waiting));
  }

  void WakeLocked() {
    PublishLocked();
    for (const auto& [id, wake] : sleepers) {
      if (!table.IsWaiting(id)) wake->notify_one();  // granted, or no longer queued
    }
  }

  // Drops expired holders (and their records) and lapsed places; wakes waiters when that
  // changed anything.
  void ExpireLocked(SteadyClock::time_point now) {
    const std::size_t waiting_before = table.waiters().size();
    std::vector<Holder> expired = table.Expire(now);
    for (const Holder& holder : expired) {
      spdlog::info("lease {} of lock {} on volume {} expired (token {})", holder.lease_id, name,
                   volume_key, holder.token);
      DeleteRecordLater(holder.lease_id);
    }
    if (!expired.empty() || table.waiters().size() != waiting_before) WakeLocked();
  }

  // Deletes a lease's record on the service's worker, after the caller has answered: the lock is
  // free in memory already, and lease IDs are not reused, so the delete cannot remove a newer
  // record. A record left behind (lockd stopped first) only makes a restarted lockd hold a dead
  // lease for one more TTL.
  void DeleteRecordLater(const std::string& lease_id) {
    WriteLater([share = share, volume_key = volume_key, name = name, lease_id] {
      return share->leases.DeleteLease(volume_key, name, lease_id);
    });
  }

  // Runs `write` on the service's worker, in order with every write posted before it (a lease's
  // delete never overtakes its own record).
  void WriteLater(std::function<Status()> write) {
    record_writes->Post([write = std::move(write), failed = failed_writes] {
      Status written = write();
      if (written.ok()) return;
      failed->fetch_add(1);
      spdlog::warn("cannot write lock record: {}", written.ToString());
    });
  }

  // Makes a grant (or a TTL change) safe to answer before its lease record is written, then
  // queues that write. The lock's reservation must cover the token (tokens never go backwards)
  // and carry a grace at least as long as the lease's TTL: a lockd restarted after a crash
  // holds new grants back that long, while holders whose records never made it reclaim their
  // leases. That reservation is written before the answer; it changes once per token block and
  // when a longer TTL comes, so a grant usually waits for no NFS request at all.
  Status PersistLocked(const Holder& holder, const LockServiceOptions& options) {
    // Deletes are always queued (at most one per lease), so refusing grants bounds the queue.
    const std::size_t backlog = record_writes->backlog();
    if (backlog >= options.max_queued_writes) {
      return Unavailable(std::to_string(backlog) + " lock records are still waiting to be written: "
                         "the share is slow or unreachable; ask again");
    }
    const bool beyond_tokens = holder.token > reserved;
    if (beyond_tokens || holder.ttl > grace) {
      const uint64_t next = beyond_tokens ? holder.token + options.token_block - 1 : reserved;
      const milliseconds next_grace = std::max(grace, holder.ttl);
      Status reserved_now = ReplaceReservationLocked({next, next_grace});
      if (reserved_now.code() == StatusCode::kAlreadyExists) {
        // Another lockd serves this lock too and reserved tokens since this one loaded it: its
        // state is on the share, so the next call loads it instead of granting from this memory.
        loaded = false;
        spdlog::warn("lock {} on volume key {}: another lockd reserved its tokens; loading it again "
                     "(run one lockd: docs/locks.md)", name, volume_key);
        return Unavailable("another lockd serves lock " + name + " too; ask again");
      }
      NFSPROV_RETURN_IF_ERROR(reserved_now);
    }
    WriteLater([share = share, volume_key = volume_key, name = name,
                lease = StoredLease{holder.lease_id, holder.mode, holder.token, holder.ttl}] {
      return share->leases.PutLease(volume_key, name, lease);
    });
    return {};
  }

  // Writes `next` as the lock's reservation, a new generation (ALREADY_EXISTS: another lockd
  // wrote that generation first), and queues the delete of the record it replaces.
  Status ReplaceReservationLocked(const Reservation& next) {
    NFSPROV_RETURN_IF_ERROR(share->leases.Reserve(volume_key, name, generation + 1, next));
    if (reserved != 0) {  // a reservation was loaded or made before: its record is stale now
      WriteLater([share = share, volume_key = volume_key, name = name, stale = generation] {
        return share->leases.DropReservation(volume_key, name, stale);
      });
    }
    ++generation;
    reserved = next.reserved;
    grace = next.grace;
    return {};
  }

  // After a clean stop, with every record written: a restarted lockd need not hold grants back.
  void ClearGraceLocked() {
    if (!loaded || grace.count() == 0) return;
    Status cleared = ReplaceReservationLocked({reserved});
    if (!cleared.ok()) {
      spdlog::warn("lock {} on volume key {}: cannot clear its grace ({}); a restarted lockd holds "
                   "new grants back for {} ms", name, volume_key, cleared.ToString(), grace.count());
    }
  }
};

LockService::LockService(LockKey key, LockServiceOptions options)
    : key_(std::move(key)), options_(options) {
  collector_ = metrics::Default().AddCollector([this] {
    return std::vector<metrics::CollectedFamily>{
        {"nfsprov_locks_held", "Leases held, over all locks", {{{}, static_cast<double>(held_.load())}}},
        {"nfsprov_locks_waiting", "Acquire calls waiting in a lock's queue",
         {{{}, static_cast<double>(waiting_.load())}}}};
  });
}

// A clean stop: once every record queued is written, no lock needs a restarted lockd to hold its
// grants back. Unless a background write failed: then a lease may lack its record, and its holder
// needs the grace to reclaim it.
LockService::~LockService() {
  record_writes_.Drain();
  if (failed_writes_.load() != 0) {
    spdlog::warn("{} lock record write(s) failed: a restarted lockd keeps the grace",
                 failed_writes_.load());
    return;
  }
  std::lock_guard<std::mutex> guard(mu_);
  for (const auto& [key, lock] : locks_) {
    std::lock_guard<std::mutex> lock_guard(lock->mu);
    lock->ClearGraceLocked();
  }
}

Result<LockService::Volume> LockService::CheckVolume(const v1::LockRef& ref) {
  if (ref.volume_id().empty()) return InvalidArgument("volume_id is required");
  if (ref.volume_id().size() > kMaxIdBytes) {
    return InvalidArgument("volume_id is " + std::to_string(ref.volume_id().size()) +
                           " bytes; a CSI volume ID has at most 128");
  }
  // The secret first: nothing about a volume is looked up, or revealed, for a caller without it.
  if (!key_.Verify(ref.volume_id(), ref.secret())) {
    return PermissionDenied("the lock secret does not belong to volume " + ref.volume_id() +
                            ": use the secret from the volume's .nfsprov-lock.json");
  }
  Result<ObjectId> decoded = DecodeId(ref.volume_id());
  if (!decoded.ok()) return decoded.status();
  if (decoded->kind != ObjectKind::kVolume) {
    return InvalidArgument(ref.volume_id() + " is a snapshot ID, not a volume ID");
  }
  return Volume{ref.volume_id(), std::move(decoded).value()};
}

Result<std::shared_ptr<LockService::Share>> LockService::ShareFor(const Volume& volume) {
  const std::string share_key = volume.decoded.share.Key();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = shares_.find(share_key);
    if (it != shares_.end()) return it->second;
  }
  // Connecting happens outside mu_ so an unreachable server does not hold up other shares; two
  // first calls may both connect, and one connection is kept.
  Result<std::unique_ptr<nfs::Client>> client =
      nfs::Client::Connect(volume.decoded.share.Url(), options_.client_options);
  if (!client.ok()) return client.status();
  auto share = std::make_shared<Share>(std::shared_ptr<nfs::Client>(std::move(client).value()));
  std::lock_guard<std::mutex> lock(mu_);
  return shares_.emplace(share_key, std::move(share)).first->second;
}

Result<std::shared_ptr<LockService::Lock>> LockService::LockFor(const v1::LockRef& ref) {
  NFSPROV_RETURN_IF_ERROR(ValidateLockName(ref.name()));
  Result<Volume> volume = CheckVolume(ref);
  if (!volume.ok()) return volume.status();
  Result<std::shared_ptr<Share>> share = ShareFor(*volume);
  if (!share.ok()) return share.status();
  const std::string& key = volume->decoded.key;

  const auto now = SteadyClock::now();
  bool fresh = false, seen = false;
  {
    std::lock_guard<std::mutex> lock((*share)->mu);
    auto it = (*share)->checked.find(key);
    seen = it != (*share)->checked.end();
    fresh = seen && now - it->second < options_.volume_cache_ttl;
  }
  if (!fresh) {
    Status lockable = CheckLockable(*(*share)->store, volume->id, key);
    // A volume found before stays lockable while the server is away: holders can renew what
    // lockd holds in memory (new grants still need the server, to be recorded).
    if (lockable.code() == StatusCode::kUnavailable && seen) {
      spdlog::warn("cannot re-check volume {}: {}; going by the earlier check", volume->id,
                   lockable.ToString());
    } else {
      NFSPROV_RETURN_IF_ERROR(lockable);
      std::lock_guard<std::mutex> lock((*share)->mu);
      (*share)->checked[key] = now;
    }
  }

  std::shared_ptr<Lock> lock;
  {
    std::lock_guard<std::mutex> guard(mu_);
    std::shared_ptr<Lock>& slot = locks_[volume->decoded.share.Key() + "|" + key + "/" + ref.name()];
    if (slot == nullptr) {
      slot = std::make_shared<Lock>();
      slot->share = *share;
      slot->volume_key = key;
      slot->name = ref.name();
      slot->held_total = &held_;
      slot->waiting_total = &waiting_;
      slot->record_writes = &record_writes_;
      slot->failed_writes = &failed_writes_;
    }
    lock = slot;
  }
  std::lock_guard<std::mutex> guard(lock->mu);
  if (!lock->loaded) {
    // First use since lockd started: every lease granted before a restart is held again, for a
    // full TTL from now, and tokens continue above anything handed out before.
    Result<StoredLock> stored = lock->share->leases.Load(key, ref.name());
    if (!stored.ok()) return stored.status();
    lock->table = LeaseTable(stored->reserved);
    lock->generation = stored->generation;
    lock->reserved = stored->reserved;
    lock->grace = stored->grace;
    for (const StoredLease& lease : stored->leases) {
      lock->table.Restore(lease.lease_id, lease.mode, lease.token, lease.ttl, now);
    }
    if (stored->grace.count() > 0) {
      // The lockd before did not stop cleanly, and answered grants before writing their records:
      // some holders may be unknown here. Nobody new gets the lock until any such lease has run
      // out, unless its holder reclaims it first (Renew with its mode and token).
      lock->table.HoldGrantsUntil(now + stored->grace);
      spdlog::warn("lock {} on volume {}: the lockd before stopped without recording every grant; "
                   "new grants wait {} ms while holders reclaim their leases",
                   ref.name(), volume->id, stored->grace.count());
    }
    lock->PublishLocked();
    lock->loaded = true;
    if (!stored->leases.empty()) {
      spdlog::info("lock {} on volume {}: restored {} lease(s), tokens continue after {}",
                   ref.name(), volume->id, stored->leases.size(), lock->table.last_token());
    }
  }
  return lock;
}

Result<std::shared_ptr<LockService::Lock>> LockService::LeaseLock(const v1::LockRef& ref,
                                                                  const std::string& lease_id) {
  NFSPROV_RETURN_IF_ERROR(ValidateLeaseId(lease_id));
  return LockFor(ref);
}

grpc::Status LockService::Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
                                  v1::AcquireResponse* response) {
  return csi::Serve("lockd.Acquire", LoggedId(request->lock().volume_id()),
                    [&] { return AcquireCall(context, request, response); });
}

Status LockService::AcquireCall(grpc::ServerContext* context, const v1::AcquireRequest* request,
                                v1::AcquireResponse* response) {
  NFSPROV_RETURN_IF_ERROR(ValidateLeaseId(request->lease_id()));
  Result<LockMode> mode = ModeOf(request->mode());
  if (!mode.ok()) return mode.status();
  const milliseconds ttl(request->ttl_ms());
  NFSPROV_RETURN_IF_ERROR(ValidateTtl(ttl));
  Result<std::shared_ptr<Lock>> found = LockFor(request->lock());
  if (!found.ok()) return found.status();
  Lock& lock = **found;
  const std::string& id = request->lease_id();

  std::unique_lock<std::mutex> guard(lock.mu);
  auto now = SteadyClock::now();
  const auto deadline = WaitDeadline(*context, milliseconds(request->wait_ms()), now);
  lock.ExpireLocked(now);
  std::optional<Holder> holder = lock.table.Request(id, *mode, ttl, now);
  lock.PublishLocked();
  if (!holder.has_value()) {
    std::condition_variable wake;
    lock.sleepers[id] = &wake;
    while (!holder.has_value()) {
      const bool queued = lock.table.IsWaiting(id);  // false: a Release of this ID withdrew it
      const bool cancelled = context->IsCancelled();
      if (queued && stopping_.load()) {
        lock.table.Withdraw(id, now);
        lock.sleepers.erase(id);
        lock.WakeLocked();
        return Unavailable("lockd is stopping; retry: the next lockd keeps every granted lease");
      }
      if (!queued || now >= deadline || cancelled) {
        const bool parked = queued && !cancelled && request->wait_ms() > 0;
        if (parked) {
          lock.table.Park(id, now + kKeepPlace);  // a repeat of this call resumes its place
        } else {
          lock.table.Withdraw(id, now);
        }
        lock.sleepers.erase(id);
        lock.WakeLocked();  // leaving the queue may unblock those behind
        response->set_granted(false);
        response->set_holders(static_cast<uint32_t>(lock.table.holders().size()));
        response->set_waiters(static_cast<uint32_t>(lock.table.waiters().size() - (parked ? 1 : 0)));
        return {};
      }
      auto until = std::min(deadline, now + kCancelPoll);
      if (auto expiry = lock.table.NextExpiry()) until = std::min(until, *expiry);
      wake.wait_until(guard, until);
      now = SteadyClock::now();
      lock.ExpireLocked(now);
      holder = lock.table.FindHolder(id);
    }
    lock.sleepers.erase(id);
  }

  Status persisted = lock.PersistLocked(*holder, options_);
  if (!persisted.ok() || context->IsCancelled()) {
    // Nobody may rely on a grant that a restarted lockd would not know, or that nobody receives.
    lock.table.Release(id, SteadyClock::now());
    lock.WakeLocked();
    if (persisted.ok()) {
      lock.DeleteRecordLater(id);  // after its write, which is queued already
      return {StatusCode::kAborted, "the caller cancelled the call"};
    }
    return persisted.WithContext("record the grant of lock " + lock.name);
  }
  response->set_granted(true);
  FillLease(*holder, now, response->mutable_lease());
  return {};
}

void LockService::OnServerStopping() {
  stopping_ = true;
  std::vector<std::shared_ptr<Lock>> locks;
  {
    std::lock_guard<std::mutex> guard(mu_);
    for (const auto& [key, lock] : locks_) locks.push_back(lock);
  }
  // Under each lock's mutex, so that no waiter is between its check of stopping_ and its wait.
  for (const std::shared_ptr<Lock>& lock : locks) {
    std::lock_guard<std::mutex> guard(lock->mu);
    for (const auto& [id, wake] : lock->sleepers) wake->notify_one();
  }
}

grpc::Status LockService::Renew(grpc::ServerContext*, const v1::RenewRequest* request,
                                v1::RenewResponse* response) {
  return csi::Serve("lockd.Renew", LoggedId(request->lock().volume_id()),
                    [&] { return RenewCall(request, response); });
}

Status LockService::RenewCall(const v1::RenewRequest* request, v1::RenewResponse* response) {
  const milliseconds ttl(request->ttl_ms());
  if (ttl.count() != 0) NFSPROV_RETURN_IF_ERROR(ValidateTtl(ttl));
  Result<std::shared_ptr<Lock>> found = LeaseLock(request->lock(), request->lease_id());
  if (!found.ok()) return found.status();
  Lock& lock = **found;

  std::lock_guard<std::mutex> guard(lock.mu);
  const auto now = SteadyClock::now();
  lock.ExpireLocked(now);
  const std::optional<Holder> before = lock.table.FindHolder(request->lease_id());
  std::optional<Holder> holder = lock.table.Renew(request->lease_id(), ttl, now);
  if (!holder.has_value() && request->fencing_token() != 0) {
    // A reclaim: lockd restarted before this lease's record was written. A lease's TTL is at
    // most the grace (PersistLocked), so the grace stands in when the renewal names none.
    Result<LockMode> mode = ModeOf(request->mode());
    if (!mode.ok()) return mode.status().WithContext("renewal with a fencing token (a reclaim)");
    if (lock.table.Reclaim(request->lease_id(), *mode, request->fencing_token(),
                           ttl.count() != 0 ? ttl : lock.grace, now)) {
      holder = lock.table.FindHolder(request->lease_id());
      if (Status persisted = lock.PersistLocked(*holder, options_); !persisted.ok()) {
        // As for a grant: no lease this lockd may not have recorded. The holder asks again.
        lock.table.Release(request->lease_id(), now);
        lock.WakeLocked();
        return persisted.WithContext("record the reclaimed lease of lock " + lock.name);
      }
      lock.PublishLocked();
      spdlog::info("lease {} of lock {} on volume key {} reclaimed (token {})", holder->lease_id,
                   lock.name, lock.volume_key, holder->token);
    }
  }
  if (!holder.has_value()) {
    return NotFound("lease " + request->lease_id() + " does not hold lock " + lock.name +
                    ": it expired or was released");
  }
  if (before.has_value() && before->ttl != holder->ttl) {
    // The TTL is what a restarted lockd restores the lease with.
    NFSPROV_RETURN_IF_ERROR(lock.PersistLocked(*holder, options_));
  }
  FillLease(*holder, now, response->mutable_lease());
  return {};
}

grpc::Status LockService::Release(grpc::ServerContext*, const v1::ReleaseRequest* request,
                                  v1::ReleaseResponse* response) {
  return csi::Serve("lockd.Release", LoggedId(request->lock().volume_id()),
                    [&] { return ReleaseCall(request, response); });
}

Status LockService::ReleaseCall(const v1::ReleaseRequest* request, v1::ReleaseResponse* response) {
  Result<std::shared_ptr<Lock>> found = LeaseLock(request->lock(), request->lease_id());
  if (!found.ok()) return found.status();
  Lock& lock = **found;

  std::lock_guard<std::mutex> guard(lock.mu);
  const auto now = SteadyClock::now();
  lock.ExpireLocked(now);
  const bool was_held = lock.table.Release(request->lease_id(), now);
  lock.WakeLocked();
  if (was_held) lock.DeleteRecordLater(request->lease_id());
  response->set_was_held(was_held);
  return {};
}

grpc::Status LockService::Session(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::SessionResponse, v1::SessionRequest>* stream) {
  v1::SessionRequest request;
  while (true) {
    {
      csi::ClientWait waiting;
      if (!stream->Read(&request)) break;
    }
    v1::SessionResponse response;
    response.set_call_id(request.call_id());
    grpc::Status status;
    switch (request.call_case()) {
      case v1::SessionRequest::kAcquire:
        status = csi::Serve("lockd.Session.Acquire", LoggedId(request.acquire().lock().volume_id()),
                            [&]() -> Status {
                              if (request.acquire().wait_ms() != 0) {
                                return InvalidArgument(
                                    "a Session does not queue: send wait_ms 0 to try once, or "
                                    "call Acquire to wait");
                              }
                              return AcquireCall(context, &request.acquire(),
                                                 response.mutable_acquire());
                            });
        break;
      case v1::SessionRequest::kRenew:
        status = csi::Serve("lockd.Session.Renew", LoggedId(request.renew().lock().volume_id()),
                            [&] { return RenewCall(&request.renew(), response.mutable_renew()); });
        break;
      case v1::SessionRequest::kRelease:
        status = csi::Serve(
            "lockd.Session.Release", LoggedId(request.release().lock().volume_id()),
            [&] { return ReleaseCall(&request.release(), response.mutable_release()); });
        break;
      case v1::SessionRequest::CALL_NOT_SET:
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "a SessionRequest needs one of acquire, renew or release");
        break;
    }
    if (!status.ok()) {
      response.clear_result();  // a failed call may have filled part of it
      response.set_code(status.error_code());
      response.set_message(status.error_message());
    }
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

grpc::Status LockService::Inspect(grpc::ServerContext*, const v1::InspectRequest* request,
                                  v1::InspectResponse* response) {
  return csi::Serve("lockd.Inspect", LoggedId(request->lock().volume_id()), [&]() -> Status {
    Result<std::shared_ptr<Lock>> found = LockFor(request->lock());
    if (!found.ok()) return found.status();
    Lock& lock = **found;

    std::lock_guard<std::mutex> guard(lock.mu);
    const auto now = SteadyClock::now();
    lock.ExpireLocked(now);
    for (const Holder& holder : lock.table.holders()) FillLease(holder, now, response->add_holders());
    response->set_waiters(static_cast<uint32_t>(lock.table.waiters().size()));
    response->set_last_fencing_token(lock.table.last_token());
    return {};
  });
}

}  // namespace nfsprov::lockd
