// Controller: the domain logic behind CSI's Controller service, free of protobuf.
//
// Volumes are directories on NFS shares (subdirectory layout), created and removed through
// libnfs; every volume and snapshot has a record in the share's metadata area (metadata_store.h),
// which makes every call idempotent across controller restarts and reinstalls. Calls on one
// volume or snapshot name or ID are serialised (KeyedMutex); different ones run in parallel.
//
// CreateVolume: same name + compatible arguments returns the same volume; incompatible ones give
// ALREADY_EXISTS. A directory that exists but belongs to no volume of that name is never adopted
// silently (ALREADY_EXISTS). Creation is crash-safe: the directory is claimed (an exclusive
// claim on the share) before it is created, and the record says the volume is ready only once
// the directory is complete. A new empty volume takes one request: a COMPOUND that claims,
// creates the directory with its mode and owner, and writes the record. Otherwise (a content
// source, a retry, or that COMPOUND stopped half-way) it goes step by step: read the record,
// write it "creating", claim, directory created, copied from the source or adopted when
// provably its own, mode and owner, record "ready"; a retry resumes from any point. Content sources
// (snapshot or volume) are copied server-side with the tree engine.
//
// Shared roots (parameter sharedRoot, docs/layouts.md): every volume of such a class binds to one
// directory (or a subDir inside it), which is created or adopted on first use and reference-
// counted on the share (MetadataStore: one reference per volume, the last found by rmdir). The
// last DeleteVolume applies onDelete to the root (default retain); no deletion touches data
// while another volume references it. Every step is resumable after a crash. Volumes never nest:
// a directory inside another volume's or a shared root's is FAILED_PRECONDITION, and so is a
// root that would adopt a directory holding other volumes.
//
// DeleteVolume: O(1) for the caller whatever the tree size. onDelete=delete renames the
// directory into the share's trash (the Reaper removes it in the background, resuming after
// restarts); archive renames it to .nfsprov/archive/<path>.<key>; retain leaves it. Then empty
// parent directories of the path are removed up to the share root (rmdir only removes empty
// ones), the claim is released and the record deleted. An unknown or already deleted volume is
// success. Nothing outside the volume's recorded directory is touched; a record whose path is not
// a safe relative path outside the metadata area is refused (INTERNAL) and touches nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "provisioner/keyed_mutex.h"
#include "provisioner/metadata_store.h"
#include "provisioner/quota_backend.h"
#include "provisioner/share_registry.h"
#include "provisioner/volume_params.h"

namespace nfsprov {

struct CapacityRange {
  int64_t required_bytes = 0;  // 0: not set
  int64_t limit_bytes = 0;     // 0: not set
};

struct ContentSource {
  enum class Kind { kNone, kSnapshot, kVolume } kind = Kind::kNone;
  std::string id;
};

struct CreateVolumeArgs {
  std::string name;
  CapacityRange capacity;
  std::map<std::string, std::string> parameters;
  ContentSource source;
  // The name of the first requested access mode that writes ("" when every one is reader-only):
  // a readOnly class refuses it.
  std::string writer_access_mode;
};

struct Volume {
  std::string id;
  int64_t capacity_bytes = 0;
  std::map<std::string, std::string> context;  // what the node needs to mount it
  ContentSource source;
  VolumeRecord record;
  ShareRef share;
};

struct VolumeCondition {
  bool abnormal = false;
  std::string message;
};

struct Snapshot {
  std::string id;
  std::string source_volume_id;
  int64_t size_bytes = 0;
  int64_t created_unix_ms = 0;
  bool ready = false;
};

template <typename T>
struct Page {
  std::vector<T> entries;
  std::string next_token;  // empty: no more
};

struct ControllerOptions {
  nfs::ClientOptions client;
  std::chrono::milliseconds reap_interval{std::chrono::seconds(30)};
  UsageScanOptions usage;
  std::shared_ptr<QuotaBackend> quota_backend;  // hard limits (docs/quota.md); none by default
  std::vector<ShareRef> shares;  // shares to list and reap even before a call names them
  // The lock file's text for a volume ID (docs/locks.md: lockd's address and the volume's
  // secret); null when the controller has no lock key, and a class with locks: "true" is refused.
  std::function<std::string(const std::string& volume_id)> lock_file;
};

// Capacity rounding: requests are rounded up to a whole MiB, never past the limit.
inline constexpr int64_t kCapacityGranularity = 1 << 20;

class Controller {
 public:
  explicit Controller(ControllerOptions options);
  // Waits for the CreateVolume calls still running without a caller thread (below).
  ~Controller();

  Result<Volume> CreateVolume(const CreateVolumeArgs& args);
  // CreateVolume without a thread waiting for it: `done` gets what CreateVolume would return,
  // exactly once. The common case (a new empty volume of the exclusive layout at a top-level path,
  // on a connected NFSv4 share whose capacity is known, with no quota backend or lock file, and no
  // other call on the name or the share's layout in progress) is one COMPOUND whose reply
  // finishes the call on the NFS event loop thread; `done` must therefore not wait for NFS. Every
  // other case, and whatever follows a COMPOUND that stopped, runs on a thread of the
  // controller's own, as CreateVolume.
  using CreateDone = std::function<void(Result<Volume>)>;
  void CreateVolume(CreateVolumeArgs args, CreateDone done);
  Status DeleteVolume(const std::string& volume_id);
  // Returns the new capacity. Shrinking is refused (OUT_OF_RANGE).
  Result<int64_t> ExpandVolume(const std::string& volume_id, const CapacityRange& capacity);
  // NOT_FOUND for an unknown volume; the condition says whether its directory is there.
  Result<std::pair<Volume, VolumeCondition>> GetVolume(const std::string& volume_id);
  // Pages through every volume of every known share, in a stable order.
  Result<Page<Volume>> ListVolumes(int max_entries, const std::string& starting_token);

  Result<Snapshot> CreateSnapshot(const std::string& source_volume_id, const std::string& name,
                                  const std::map<std::string, std::string>& parameters);
  Status DeleteSnapshot(const std::string& snapshot_id);
  // Filters are optional (empty: no filter).
  Result<Page<Snapshot>> ListSnapshots(const std::string& snapshot_id,
                                       const std::string& source_volume_id, int max_entries,
                                       const std::string& starting_token);

  // What can still be provisioned on the share named by `parameters` (a StorageClass's; the
  // first known share when there are none): the class's limit minus what the share's volumes
  // hold (docs/quota.md), never below 0.
  Result<int64_t> GetCapacity(const std::map<std::string, std::string>& parameters);

  ShareRegistry& shares() { return shares_; }

 private:
  // What CreateVolume settles before it takes the name's lock.
  struct Prepared {
    VolumeParams params;
    std::string key;
    std::string id;
  };
  // A create admitted against the share's capacity (the ledger holds its reservation).
  struct Admission {
    ShareHandle share;
    CapacityLedger* ledger = nullptr;
    int64_t capacity = 0;
    std::optional<CapacityLedger::Entry> previous;  // the name's entry before the reservation
  };
  // The one-request create that was sent, and what came of it.
  struct AtOnceOutcome {
    VolumeRecord record;
    Status made;
    std::size_t created = 0;
  };
  struct AtOnceCall;

  Result<Prepared> Prepare(const CreateVolumeArgs& args);
  Result<Volume> CreateLocked(const CreateVolumeArgs& args, const Prepared& prepared);
  Result<Admission> Admit(const CreateVolumeArgs& args, const Prepared& prepared);
  // Settles the reservation with what `made` says and finishes a made volume (quota, lock file,
  // usage tracking).
  Result<Volume> Conclude(const CreateVolumeArgs& args, const Prepared& prepared, Admission& admission,
                          Result<Volume> made);
  // The common case of the asynchronous CreateVolume; false when this is not it (nothing done).
  bool StartCreateAtOnce(const CreateVolumeArgs& args, const Prepared& prepared, const CreateDone& done);
  void FinishCreateAtOnce(const std::shared_ptr<AtOnceCall>& call, Result<Volume> made);
  // Runs `task` on a thread of its own, counted as a call in progress.
  void InBackground(std::function<void()> task);
  void CallEnded();
  Result<Volume> CreateExclusive(const CreateVolumeArgs& args, const VolumeParams& params,
                                 const std::string& key, const std::string& id, int64_t capacity,
                                 ShareHandle& share, const AtOnceOutcome* sent = nullptr);
  Result<CapacityLedger*> Ledger(ShareHandle& share);
  // What the share may provision in all under `params`: `capacity`, or the share's size, times
  // `overcommit`.
  Result<int64_t> ProvisionLimit(ShareHandle& share, const VolumeParams& params);
  Result<Volume> CheckedNew(ShareHandle& share, const VolumeParams& params, const std::string& id,
                            const VolumeRecord& record);
  Result<Volume> CreateShared(const CreateVolumeArgs& args, const VolumeParams& params,
                              const std::string& key, const std::string& id, int64_t capacity,
                              ShareHandle& share);
  Status BindSharedRoot(ShareHandle& share, const VolumeParams& params, const std::string& key);
  Status DeleteShared(ShareHandle& share, const VolumeRecord& record);
  Status Populate(ShareHandle& share, const VolumeRecord& record, const VolumeParams& params,
                  const ContentSource& source);
  Volume ToVolume(const ShareRef& share, const std::string& id, const VolumeRecord& record);
  Result<std::string> SourcePath(ShareHandle& share, const ContentSource& source);
  template <typename T>
  Result<Page<T>> PageRecords(
      int max_entries, const std::string& starting_token,
      const std::function<Result<std::vector<std::string>>(MetadataStore&)>& list_keys,
      const std::function<Result<std::optional<T>>(ShareHandle&, const std::string& key)>& load);

  // SetLimit for the directory `record` binds to, with its quota from the ledger.
  Status ApplyLimit(ShareHandle& share, const VolumeRecord& record);
  // Writes the volume's lock file (locks: "true") unless it is there with the right text; a
  // volume that started as a copy without locks loses a lock file its source had.
  Status PlaceLockFile(ShareHandle& share, const Volume& volume, const VolumeParams& params);

  ShareRegistry shares_;
  KeyedMutex locks_;
  std::shared_ptr<QuotaBackend> quota_backend_;
  std::function<std::string(const std::string& volume_id)> lock_file_;

  // Asynchronous CreateVolume calls not yet done (the destructor waits for none).
  std::mutex calls_mu_;
  std::condition_variable calls_ended_;
  int calls_running_ = 0;  // guarded by calls_mu_
};

// Rounds a capacity range to the capacity a volume gets; OUT_OF_RANGE / INVALID_ARGUMENT for
// ranges nothing satisfies. Exposed for unit tests.
Result<int64_t> ResolveCapacity(const CapacityRange& range);

}  // namespace nfsprov
