// LockService: the gRPC Locks service of lockd.proto.
//
// Per call: the secret is checked against the volume ID (LockKey, constant time; a mismatch is
// PERMISSION_DENIED, logged without the secret), the ID is decoded (provisioner/object_id.h) to
// find the share, and the volume's record must exist there (NOT_FOUND) with locks: "true"
// (FAILED_PRECONDITION); a volume once found is remembered for volume_cache_ttl. Each lock is a
// LeaseTable behind its own mutex, loaded from the share (LeaseStore) on first use, so a
// restarted lockd picks up every lease granted before.
//
// Persistence (docs/locks.md, "State on the share"): a grant is answered before its lease record
// is written; the record is written on a background worker, in order with the deletes of
// releases and expiries. What is written before the answer is the lock's token reservation,
// when the token passes it or the lease's TTL exceeds its grace: it says that no token above it
// was handed out, and that grants with TTLs of up to the grace may lack a record. A lockd that
// loads a lock whose reservation has a grace (its predecessor did not stop cleanly) grants
// nothing new on it for that long, while holders reclaim their leases by renewing with their
// mode and token (LeaseTable::Reclaim). If writing the reservation fails, the grant is revoked
// and the call fails UNAVAILABLE. Renewals write nothing unless the TTL changes. The destructor
// (a clean stop) waits for the queued writes, then clears each lock's grace.
//
// Blocking acquires wait on the lock's condition variable until granted, their wait_ms or gRPC
// deadline passes, the call is cancelled, or the server begins to stop (OnServerStopping: they
// leave the queue and fail UNAVAILABLE, which clients retry against the next lockd). A wait that
// ran out keeps its place for 1 s for the caller's next call (LeaseTable::Park); a cancelled one
// leaves the queue (Withdraw). One lockd per set of shares: two instances serving the same volumes
// would each grant from their own memory, though never the same fencing token (LeaseStore: an
// instance that finds its next token block taken fails the grant UNAVAILABLE and reloads).
//
// Metrics (docs/metrics.md): while it lives, the service reports the leases held and the
// Acquire calls waiting, over all locks, from two totals each lock updates when it changes, so a
// scrape never waits for a lock whose holder is writing to the share.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/metrics.h"
#include "common/serial_worker.h"
#include "csi/server.h"
#include "lockd/lease_store.h"
#include "lockd/lease_table.h"
#include "lockd/lock_secret.h"
#include "lockd/lockd.grpc.pb.h"
#include "nfs/client.h"

namespace nfsprov::lockd {

struct LockServiceOptions {
  nfs::ClientOptions client_options;
  uint64_t token_block = 1024;  // tokens reserved per write of the tokens record
  std::chrono::milliseconds volume_cache_ttl{30000};
  // Record writes waiting for the background worker beyond which grants (and TTL changes) fail
  // UNAVAILABLE until it catches up: the share is slow or unreachable.
  std::size_t max_queued_writes = 1024;
};

class LockService final : public v1::Locks::Service, public csi::StopListener {
 public:
  LockService(LockKey key, LockServiceOptions options);
  ~LockService() override;

  grpc::Status Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
                       v1::AcquireResponse* response) override;
  grpc::Status Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                     v1::RenewResponse* response) override;
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::ReleaseResponse* response) override;
  grpc::Status Inspect(grpc::ServerContext* context, const v1::InspectRequest* request,
                       v1::InspectResponse* response) override;
  // Each message is logged and counted as a call of its own ("lockd.Session.Acquire", ...).
  grpc::Status Session(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::SessionResponse, v1::SessionRequest>* stream) override;

  void OnServerStopping() override;

 private:
  struct Share;
  struct Lock;
  struct Volume;  // a volume ID whose secret checked out, decoded

  // The calls, shared by their RPCs and Session.
  Status AcquireCall(grpc::ServerContext* context, const v1::AcquireRequest* request,
                     v1::AcquireResponse* response);
  Status RenewCall(const v1::RenewRequest* request, v1::RenewResponse* response);
  Status ReleaseCall(const v1::ReleaseRequest* request, v1::ReleaseResponse* response);

  Result<Volume> CheckVolume(const v1::LockRef& ref);
  Result<std::shared_ptr<Share>> ShareFor(const Volume& volume);
  Result<std::shared_ptr<Lock>> LockFor(const v1::LockRef& ref);
  // LockFor, for a call about an existing lease (Renew, Release).
  Result<std::shared_ptr<Lock>> LeaseLock(const v1::LockRef& ref, const std::string& lease_id);

  LockKey key_;
  LockServiceOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Share>> shares_;  // by ShareRef::Key()
  std::map<std::string, std::shared_ptr<Lock>> locks_;     // by volume key + "/" + name
  std::atomic<int64_t> held_{0}, waiting_{0};  // over all locks
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> failed_writes_{0};  // background record writes that failed
  SerialWorker record_writes_;  // after what its tasks use, so it drains before they go
  metrics::CollectorHandle collector_;  // last: destroyed before what it reads
};

}  // namespace nfsprov::lockd
