// Node: the node plugin's volume lifecycle on one machine (stage, publish, unpublish, unstage,
// stats), deciding every step from /proc/self/mountinfo, never from memory or guesses.
//
// Stage mounts the volume's NFS directory once per node at the staging path with the configured
// Mounter (kernel or FUSE); Publish bind-mounts staging -> target (read-only, verified, when asked
// or when the access mode only reads). Each call is idempotent as CSI requires: a repeat with the
// same arguments succeeds; a path already mounted from something else is ALREADY_EXISTS; unstage
// and unpublish of what is not there succeed. A dead mount (stale handle, FUSE daemon gone, server
// not answering) is detected with a bounded probe and replaced by Stage/Publish, removed lazily by
// Unstage/Unpublish, and reported by Stats as an abnormal condition: a dead server never wedges
// the node. Calls for one volume are serialised; different volumes run in parallel.
//
// Stats reports a volume made by the controller by its own records on the share (UsageReader:
// capacity or quota as the total, the usage scanner's last measurement as used, an abnormal
// condition when over quota); a static volume, one without capacity or usage record, or a share
// whose records cannot be read is reported by the mount's statvfs (the whole export).
// Stage with quotaEnforcement "readonly" asks the FUSE mounter to refuse writes while the volume
// is over quota; the kernel mounter cannot, so the volume is then only reported (a warning).
//
// Paths: staging and target paths must be absolute. Stage creates a missing staging directory
// (the CO normally makes it) and never removes it; Publish creates the target directory and
// Unpublish removes it (empty directories only: never recursive).
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "mount/mount_spec.h"
#include "mount/mountinfo.h"
#include "provisioner/keyed_mutex.h"
#include "provisioner/usage_reader.h"

namespace nfsprov {

struct NodeOptions {
  std::chrono::milliseconds probe_timeout{3000};  // how long a health stat may take
  std::chrono::milliseconds nfs_timeout{10000};   // one NFS call (and connect) reading records
};

struct StageArgs {
  std::string volume_id;
  std::string staging_path;
  std::map<std::string, std::string> context;  // volume context (node_context.h)
  bool read_only = false;                      // the access mode only reads
};

struct PublishArgs {
  std::string volume_id;
  std::string staging_path;
  std::string target_path;
  std::map<std::string, std::string> context;
  bool read_only = false;  // readonly flag, a reader-only access mode, or readOnly in the context
};

struct NodeVolumeStats {
  int64_t bytes_total = 0, bytes_available = 0, bytes_used = 0;
  int64_t inodes_total = 0, inodes_free = 0, inodes_used = 0;
  bool has_usage = true;  // false when the mount is dead: the numbers above mean nothing
  bool abnormal = false;
  std::string message;  // why it is abnormal (a dead mount, or over quota)
};

// The numbers of a live mount's statvfs (the whole export, as the server reports it).
NodeVolumeStats StatsFromFs(const struct statvfs& fs);
// A controller-made volume's own numbers from its records, with inode totals from the mount's
// `fs`; std::nullopt when the records say nothing (no capacity and no usage record yet).
std::optional<NodeVolumeStats> StatsFromRecords(const VolumeRecords& records, const struct statvfs& fs);

class Node {
 public:
  Node(NodeOptions options, std::unique_ptr<mount::Mounter> mounter);

  Status Stage(const StageArgs& args);
  Status Unstage(const std::string& volume_id, const std::string& staging_path);
  Status Publish(const PublishArgs& args);
  Status Unpublish(const std::string& volume_id, const std::string& target_path);
  // Usage of a published or staged path. NOT_FOUND when nothing is mounted there.
  Result<NodeVolumeStats> Stats(const std::string& volume_id, const std::string& volume_path);

  const mount::Mounter& mounter() const { return *mounter_; }

 private:
  Result<mount::MountEntry> StageLocked(const mount::NfsMountSpec& spec,
                                        const std::string& staging_path,
                                        const std::optional<mount::MountEntry>& found);

  NodeOptions options_;
  std::unique_ptr<mount::Mounter> mounter_;
  KeyedMutex volume_locks_;
  UsageReader usage_;
};

}  // namespace nfsprov
