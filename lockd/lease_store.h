// LeaseStore: lockd's state on one NFS share, so a restarted or replacement lockd keeps every
// granted lease and never hands out a fencing token that goes backwards.
//
// Layout, under the share's metadata area (provisioner/metadata_store.h):
//   .nfsprov/locks/<volume key>/<lock name>/tokens.<g>       symlink, target "v1 reserved=<n>"
//                                                           or "v1 reserved=<n> grace_ms=<t>":
//                                                           no token above n was ever handed out
//                                                           (the highest generation g counts;
//                                                           "tokens", from before generations,
//                                                           is generation 0); with grace_ms,
//                                                           grants of up to t ms may have been
//                                                           answered before their record was
//                                                           written (lockd/lock_service.h)
//   .nfsprov/locks/<volume key>/<lock name>/lease.<lease id> symlink, target
//                                                           "v1 mode=<x|s> token=<n> ttl_ms=<t>"
// Symlinks because one READLINK reads one and one COMPOUND creates or replaces one atomically
// (nfs::Client::Symlink / ReplaceSymlink); no open/write/commit/close per change.
//
// Tokens are reserved in blocks: lockd persists reserved = token + block before it replies with a
// token above the reservation, so a grant usually costs one NFS request (its lease record, which
// lockd writes after answering: the reservation's grace covers it). After a restart the next
// token is reserved + 1: gaps, never repeats. Each reservation is an exclusive CREATE of the next
// generation's record, so two lockd instances that serve the same lock at once (a replacement
// started while the old one still runs) never reserve overlapping blocks: the second to try
// finds the generation taken (ALREADY_EXISTS) and must load again.
//
// DeleteVolume removes a volume's locks (MetadataStore::DeleteVolumeLocks).
//
// Every call is one or a few NFS requests and is safe to repeat. Errors are the client's
// (UNAVAILABLE when the server cannot be reached); a record that cannot be parsed is INTERNAL
// naming it. Callers serialise calls on one lock; calls on different locks may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "lockd/lease_table.h"
#include "nfs/client.h"

namespace nfsprov::lockd {

struct StoredLease {
  std::string lease_id;
  LockMode mode = LockMode::kExclusive;
  uint64_t token = 0;
  std::chrono::milliseconds ttl{0};
  bool operator==(const StoredLease&) const = default;
};

// What one token reservation record says.
struct Reservation {
  uint64_t reserved = 0;                // tokens up to this may have been handed out
  std::chrono::milliseconds grace{0};   // the TTL of any grant whose record may be missing; 0: none
  bool operator==(const Reservation&) const = default;
};

struct StoredLock {
  uint64_t generation = 0;  // of the token reservation
  uint64_t reserved = 0;    // tokens up to this may have been handed out
  std::chrono::milliseconds grace{0};  // the reservation's grace_ms
  std::vector<StoredLease> leases;  // sorted by lease_id
};

class LeaseStore {
 public:
  // `volume_key`: the volume's key (provisioner/object_id.h); `name`: a valid lock name
  // (lock_request.h). Both are checked again here (INVALID_ARGUMENT).
  explicit LeaseStore(std::shared_ptr<nfs::Client> client) : client_(std::move(client)) {}

  // The lock's persisted state; an empty StoredLock when nothing was ever stored.
  Result<StoredLock> Load(const std::string& volume_key, const std::string& name);
  // Records `reservation` as reservation `generation` (one more than the one loaded or last
  // reserved; creates the lock's directory when missing). ALREADY_EXISTS when another lockd took
  // that generation first.
  Status Reserve(const std::string& volume_key, const std::string& name, uint64_t generation,
                 const Reservation& reservation);
  // Removes the record of an older reservation (Load reads only the newest); missing: OK.
  Status DropReservation(const std::string& volume_key, const std::string& name, uint64_t generation);
  // Creates or replaces the lease's record (creates the lock's directory when missing). A new
  // record costs one CREATE; replacing one (a TTL change) first finds it exists.
  Status PutLease(const std::string& volume_key, const std::string& name, const StoredLease& lease);
  // Removes the lease's record; missing: OK.
  Status DeleteLease(const std::string& volume_key, const std::string& name,
                     const std::string& lease_id);

 private:
  std::shared_ptr<nfs::Client> client_;
};

// Record text, exposed for unit tests.
std::string EncodeLease(const StoredLease& lease);
Result<StoredLease> DecodeLease(const std::string& lease_id, std::string_view text);
std::string EncodeReservation(const Reservation& reservation);
Result<Reservation> DecodeReservation(std::string_view text);

}  // namespace nfsprov::lockd
