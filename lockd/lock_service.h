// LockService: the gRPC Locks service of lockd.proto.
//
// Per call: the secret is checked against the volume ID (LockKey, constant time; a mismatch is
// PERMISSION_DENIED, logged without the secret), the ID is decoded (provisioner/object_id.h) to
// find the share, and the volume's record must exist there (NOT_FOUND) with locks: "true"
// (FAILED_PRECONDITION); a volume once found is remembered for volume_cache_ttl. Each lock is a
// LeaseTable behind its own mutex, loaded from the share (LeaseStore) on first use, so a
// restarted lockd picks up every lease granted before.
//
// Persistence before reply: a grant is written (lease record, and a token block when needed)
// before Acquire answers; if that write fails the grant is revoked and the call fails
// UNAVAILABLE. Renewals write nothing unless the TTL changes. Releases and expiries delete the
// record on a background worker, after the in-memory state changed and the caller was answered
// (a lost delete only makes a restarted lockd keep a dead lease for one more TTL), as does a new
// token reservation with the one it replaces; the destructor waits for the deletes queued before
// it.
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
  SerialWorker record_deletes_;  // after what its tasks use, so it drains before they go
  metrics::CollectorHandle collector_;  // last: destroyed before what it reads
};

}  // namespace nfsprov::lockd
