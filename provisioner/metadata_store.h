// MetadataStore: the driver's own area on a share, where volume and snapshot records live.
//
// Layout, relative to the share root (created 0700 on first use, idempotently):
//   .nfsprov/volumes/<key>.json     one VolumeRecord per volume (key = KeyForName(CSI name))
//   .nfsprov/snapshots/<key>.json   one SnapshotRecord per snapshot
//                                   (records are symlinks whose target is the JSON text: one
//                                   READLINK reads one, one COMPOUND replaces one atomically;
//                                   `readlink` shows them; at most 3000 bytes)
//   .nfsprov/snapshots/<key>/       the snapshot's data (a copy of the volume tree)
//   .nfsprov/claims/<pathkey>       a symlink whose target is the key of the volume that owns
//                                   a directory (pathkey = KeyForName(path)); symlink creation
//                                   is atomic and exclusive, so two volumes never own one path.
//                                   It is made before the directory, and its ctime (the
//                                   server's clock) tells the volume's own directory, made
//                                   after it, from an older foreign one
//   .nfsprov/trash/<key>.<nonce>    volume directories renamed aside by DeleteVolume, removed
//                                   in the background by the Reaper
//   .nfsprov/archive/<path>.<key>   volumes kept by onDelete=archive (hierarchy preserved)
//   .nfsprov/usage/<key>.json       the volume's last measured usage (UsageRecord)
//   .nfsprov/roots/<pathkey>/<key>  one reference per volume bound to a shared root (a symlink
//                                   to the key; pathkey = KeyForName(root path)). The root's
//                                   directory is claimed by kSharedRootOwner
//   .nfsprov/roots/<pathkey>.teardown  made by the DeleteVolume that dropped the last reference
//                                   while it applies onDelete to the root; creates wait for it
//   .nfsprov/locks/<key>/           lockd's leases for the volume's locks (lockd/lease_store.h),
//                                   removed with the volume
//
// Records are JSON replaced atomically (Client::ReplaceSymlink: readers see old or new, never a
// mix) and survive controller restarts and reinstalls: the share is the only state. Regular files
// would cost an OPEN, WRITE, COMMIT and CLOSE each, serialised per connection (NFSv4 open state). A record that cannot
// be parsed is INTERNAL naming the file, never silently ignored. Volume directories never
// contain driver files (databases refuse a non-empty data directory), except the lock file of a
// class with locks: "true" (docs/locks.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "nfs/client.h"

namespace nfsprov {

enum class VolumeState { kCreating, kReady };

struct VolumeRecord {
  std::string name;  // CSI name
  std::string key;   // KeyForName(name)
  std::string path;  // directory, relative to the share root
  int64_t capacity_bytes = 0;
  std::map<std::string, std::string> parameters;  // VolumeParams::given
  std::string layout = "subdir";  // "subdir" (owns path) or "shared" (path lies in shared_root)
  std::string shared_root;        // the shared root's directory, for layout "shared"
  std::string content_source;  // "", "snapshot:<id>" or "volume:<id>"
  int64_t created_unix_ms = 0;
  VolumeState state = VolumeState::kCreating;
  bool operator==(const VolumeRecord&) const = default;
};

// What applies to a volume whose class did not set the parameter, as ParseVolumeParams decides:
// onDelete delete, or retain for a shared root (docs/storageclass.md); quotaEnforcement report.
std::string EffectiveOnDelete(const VolumeRecord& record);
std::string EffectiveQuotaEnforcement(const VolumeRecord& record);

struct SnapshotRecord {
  std::string name;
  std::string key;
  std::string source_volume_id;
  std::string source_key;
  int64_t size_bytes = 0;
  int64_t created_unix_ms = 0;
  bool ready = false;
  bool operator==(const SnapshotRecord&) const = default;
};

// The owner named in the claim of a shared root's directory: no single volume owns it.
inline constexpr std::string_view kSharedRootOwner = "shared-root";

// What the usage scanner measured for one volume: its directory's tree (for a shared-root volume,
// the whole root) against its quota.
struct UsageRecord {
  std::string name;  // the volume's CSI name
  std::string key;   // the volume's key
  std::string path;  // the directory measured (the volume's, or its shared root)
  int64_t quota_bytes = 0;  // 0: none (a volume without capacity)
  int64_t used_bytes = 0;
  int64_t used_inodes = 0;
  int64_t scanned_unix_ms = 0;  // when the scan finished
  int64_t scan_ms = 0;          // how long it took
  bool operator==(const UsageRecord&) const = default;
};

class MetadataStore {
 public:
  explicit MetadataStore(std::shared_ptr<nfs::Client> client) : client_(std::move(client)) {}

  nfs::Client& client() { return *client_; }

  // Creates the layout directories if missing (0700). Safe to call concurrently and repeatedly.
  Status EnsureLayout();

  // Absolute paths within the export for the items above. Inputs are checked with nfs/path.h
  // (and keys with IsValidKey; a volume path may not lie under .nfsprov); an invalid one gives
  // "", which every Client call rejects with INVALID_ARGUMENT. Paths from records read or
  // written by this store are always valid: PutVolume and the parser check them.
  static std::string VolumeDir(const std::string& relative_path);  // "/" + path
  static std::string VolumeRecordPath(const std::string& key);  // "" for an invalid key
  static std::string ClaimPath(const std::string& relative_path);  // the claim of a volume directory
  static std::string SnapshotDataDir(const std::string& key);
  static std::string TrashDir();
  static std::string ClaimsDir();  // claims/: one symlink per claimed directory
  static std::string RootsDir();   // roots/: a references directory and a teardown mark per root
  static std::string LocksDir();  // locks/: lockd's (lockd/lease_store.h)
  static std::string VolumeLocksDir(const std::string& key);  // locks/<key>: one volume's

  // Removes lockd's state of a volume's locks: locks/<key>/<name>/<records> (a READDIR per
  // directory, then UNLINKs and RMDIRs; NFSv3 too). Missing: OK.
  Status DeleteVolumeLocks(const std::string& key);
  static std::string ArchivePath(const std::string& relative_path, const std::string& key);

  // std::nullopt when there is no record.
  Result<std::optional<VolumeRecord>> GetVolume(const std::string& key);
  Status PutVolume(const VolumeRecord& record);
  Status DeleteVolume(const std::string& key);  // missing: OK
  // Keys of all volume records, sorted: the order ListVolumes pages through.
  Result<std::vector<std::string>> ListVolumeKeys();
  // Every volume record, in key order (one READDIR, then one READLINK each). A record deleted
  // since the listing is skipped; one that cannot be parsed fails the call.
  Result<std::vector<VolumeRecord>> ListVolumes();

  Result<std::optional<SnapshotRecord>> GetSnapshot(const std::string& key);
  Status PutSnapshot(const SnapshotRecord& record);
  Status DeleteSnapshot(const std::string& key);
  Result<std::vector<std::string>> ListSnapshotKeys();

  // Usage records: .nfsprov/usage/<key>.json, one per volume (written by the usage scanner).
  Result<std::optional<UsageRecord>> GetUsage(const std::string& key);
  Status PutUsage(const UsageRecord& record);
  Status DeleteUsage(const std::string& key);  // missing: OK
  Result<std::vector<std::string>> ListUsageKeys();

  // A new volume with no content source in ONE request (nfs::Client::CreateInOrder): claims
  // record.path for record.key, creates the directory with `mode` and owner, and writes the
  // record (state ready) — each exclusively, in this order, stopping at the first that fails.
  // A failure or a crash therefore leaves one of: nothing; the claim; the claim and the
  // directory (perhaps without its final mode and owner); the complete volume. The record is
  // written last, so a record of this call means the volume is complete.
  // ALREADY_EXISTS: the directory was there before this request, which made the claim (so no
  // earlier attempt of this volume made the directory): it is not this volume's; the claim is
  // released again and nothing is left. ABORTED: the claim or the record was there already (an
  // earlier attempt, another volume's claim, or the name's record for another path; the claim
  // and directory just made are then removed again, and a crash before that leaves them: an
  // empty directory and a claim whose volume records another path). On ABORTED and any other
  // error the caller goes on step by step (GetVolume, PutVolume, Claim, mkdir or adopt,
  // PutVolume), which recognises each of those states. The directory's parent must exist
  // (NOT_FOUND otherwise).
  Status CreateVolumeAtOnce(const VolumeRecord& record, uint32_t mode, std::optional<uint32_t> uid,
                            std::optional<uint32_t> gid);
  // CreateVolumeAtOnce in two halves, for a caller that does not wait: StartCreateVolumeAtOnce
  // sends the COMPOUND (NFSv4 only) and hands its raw outcome to `sent`, on the NFS event loop
  // thread or at once; FinishCreateVolumeAtOnce, given that outcome, returns what
  // CreateVolumeAtOnce would (taking back what a refused request made: NFS calls, so not on an
  // event loop thread, except for a successful outcome, which it returns as it is).
  using CreateSent = std::function<void(Status made, std::size_t created)>;
  void StartCreateVolumeAtOnce(const VolumeRecord& record, uint32_t mode, std::optional<uint32_t> uid,
                               std::optional<uint32_t> gid, CreateSent sent);
  Status FinishCreateVolumeAtOnce(const VolumeRecord& record, Status made, std::size_t created);

  // Claims `path` for volume `key`. Returns the key that owns the path afterwards: `key` when
  // this call or an earlier one by the same volume made the claim, another key when a different
  // volume holds it.
  Result<std::string> Claim(const std::string& path, const std::string& key);
  // Releases the claim if `key` holds it (missing or held by another: OK, nothing changes).
  // Check and unlink are two calls: callers serialise operations on one volume (a concurrent
  // Release by the same key could otherwise remove a claim made in between by another volume).
  Status Release(const std::string& path, const std::string& key);
  // Whether `owner` can stand in a claim: a volume key or kSharedRootOwner.
  static bool IsClaimOwner(std::string_view owner);
  // The owner of `path`'s claim (a volume key or kSharedRootOwner); nullopt when unclaimed.
  Result<std::optional<std::string>> ClaimOwner(const std::string& path);

  // Shared roots. The reference count of a root is the number of entries in its refs directory.
  // Adding is idempotent (and survives a concurrent DropRootRefsIfEmpty: it re-creates the
  // directory); removing a missing reference is OK.
  Status AddRootRef(const std::string& root, const std::string& key);
  Status RemoveRootRef(const std::string& root, const std::string& key);
  // Keys referencing the root, sorted (none: empty).
  Result<std::vector<std::string>> RootRefs(const std::string& root);
  // rmdir of the refs directory, which the server refuses while it holds any reference: true
  // when none is left (removed now, or already gone), false when some volume references the root.
  Result<bool> DropRootRefsIfEmpty(const std::string& root);
  // The teardown mark: made exclusively for volume `key`; returns who holds it afterwards (`key`
  // also when an earlier attempt of the same volume made it).
  Result<std::string> MarkTeardown(const std::string& root, const std::string& key);
  Result<std::optional<std::string>> TeardownOwner(const std::string& root);
  Status UnmarkTeardown(const std::string& root);  // missing: OK

 private:
  Result<std::vector<nfs::NewEntry>> AtOnceEntries(const VolumeRecord& record, uint32_t mode,
                                                   std::optional<uint32_t> uid, std::optional<uint32_t> gid);

  std::shared_ptr<nfs::Client> client_;
  std::atomic<bool> layout_ready_{false};  // EnsureLayout succeeded once: later calls are free
};

// JSON (de)serialisation, exposed for unit tests.
std::string ToJson(const VolumeRecord& record);
Result<VolumeRecord> VolumeRecordFromJson(const std::string& json);
std::string ToJson(const SnapshotRecord& record);
Result<SnapshotRecord> SnapshotRecordFromJson(const std::string& json);
std::string ToJson(const UsageRecord& record);
Result<UsageRecord> UsageRecordFromJson(const std::string& json);

}  // namespace nfsprov
