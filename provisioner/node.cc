#include "provisioner/node.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "mount/mount_ops.h"
#include "mount/mountinfo.h"
#include "mount/probe.h"
#include "nfs/path.h"
#include "provisioner/node_context.h"

namespace nfsprov {
namespace {

Status CheckAbsolute(const char* what, const std::string& path) {
  if (path.empty()) return InvalidArgument(std::string(what) + " is required");
  if (path.front() != '/' || path.find('\0') != std::string::npos)
    return InvalidArgument(std::string(what) + " " + nfs::QuoteForMessage(path) + " must be an absolute path");
  return Status();
}

std::string Describe(const mount::MountEntry& entry) {
  return entry.source + " (" + entry.fstype + (entry.read_only ? ", read-only" : ", read-write") + ")";
}

bool Healthy(const mount::MountHealth& health) { return health.state == mount::MountState::kHealthy; }

}  // namespace

Node::Node(NodeOptions options, std::unique_ptr<mount::Mounter> mounter)
    : options_(options), mounter_(std::move(mounter)) {}

Status Node::Stage(const StageArgs& args) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("staging_target_path", args.staging_path));
  Result<mount::NfsMountSpec> spec = MountSpecFromContext(args.context);
  if (!spec.ok()) return spec.status();
  spec->read_only = spec->read_only || args.read_only;
  KeyedMutex::Lock lock = volume_locks_.Acquire(args.volume_id);
  Result<std::optional<mount::MountEntry>> found = mount::FindMountAt(args.staging_path);
  if (!found.ok()) return found.status();
  return StageLocked(*spec, args.staging_path, *found).status();
}

// A mount already at the staging path (`found`) is kept when it is this volume's and alive,
// replaced when it is this volume's and dead, and refused otherwise. Returns the live mount.
Result<mount::MountEntry> Node::StageLocked(const mount::NfsMountSpec& spec,
                                            const std::string& staging_path,
                                            const std::optional<mount::MountEntry>& found) {
  if (found.has_value()) {
    if (!mounter_->Matches(spec, found->fstype, found->source) || found->read_only != spec.read_only) {
      return AlreadyExists("staging path " + staging_path + " is already mounted from " +
                           Describe(*found) + ", not from " + mount::MountSource(spec) +
                           (spec.read_only ? " (read-only)" : " (read-write)"));
    }
    mount::MountHealth health = mount::ProbeMount(staging_path, options_.probe_timeout);
    if (Healthy(health)) return *found;
    spdlog::warn("staging mount {} of {} is not usable ({}); mounting it again", staging_path,
                 found->source, health.message);
    NFSPROV_RETURN_IF_ERROR(mounter_->Unmount(staging_path));
  }
  NFSPROV_RETURN_IF_ERROR(mount::MakeDirs(staging_path, 0750));
  NFSPROV_RETURN_IF_ERROR(mounter_->Mount(spec, staging_path));
  Result<std::optional<mount::MountEntry>> mounted = mount::FindMountAt(staging_path);
  if (!mounted.ok()) return mounted.status();
  if (!mounted->has_value()) return Internal("staging mount " + staging_path + " vanished");
  return **mounted;
}

Status Node::Unstage(const std::string& volume_id, const std::string& staging_path) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("staging_target_path", staging_path));
  KeyedMutex::Lock lock = volume_locks_.Acquire(volume_id);
  return mounter_->Unmount(staging_path);
}

Status Node::Publish(const PublishArgs& args) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("staging_target_path", args.staging_path));
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("target_path", args.target_path));
  Result<mount::NfsMountSpec> spec = MountSpecFromContext(args.context);
  if (!spec.ok()) return spec.status();
  const bool read_only = args.read_only || spec->read_only;
  KeyedMutex::Lock lock = volume_locks_.Acquire(args.volume_id);

  Result<std::optional<mount::MountEntry>> found_staged = mount::FindMountAt(args.staging_path);
  if (!found_staged.ok()) return found_staged.status();
  if (!found_staged->has_value())
    return FailedPrecondition("volume " + args.volume_id + " is not staged at " + args.staging_path +
                              " (NodeStageVolume first)");
  if ((*found_staged)->read_only && !read_only)
    return InvalidArgument("volume " + args.volume_id + " is staged read-only at " +
                           args.staging_path + "; it cannot be published read-write");
  // A dead staging mount would hand the pod a broken volume: bring it back first, with the spec
  // it was staged with (its read-only state included).
  mount::NfsMountSpec staged_spec = *spec;
  staged_spec.read_only = (*found_staged)->read_only;
  Result<mount::MountEntry> staged = StageLocked(staged_spec, args.staging_path, *found_staged);
  if (!staged.ok()) return staged.status();

  Result<std::optional<mount::MountEntry>> found = mount::FindMountAt(args.target_path);
  if (!found.ok()) return found.status();
  if (found->has_value()) {
    const mount::MountEntry& entry = **found;
    bool same = entry.source == staged->source && entry.fstype == staged->fstype &&
                entry.root == staged->root && entry.read_only == read_only;
    if (!same) {
      return AlreadyExists("target path " + args.target_path + " is already mounted from " +
                           Describe(entry) + ", not from the staging mount of " +
                           staged->source + (read_only ? " (read-only)" : " (read-write)"));
    }
    mount::MountHealth health = mount::ProbeMount(args.target_path, options_.probe_timeout);
    if (Healthy(health)) return Status();
    spdlog::warn("published mount {} is not usable ({}); binding it again", args.target_path,
                 health.message);
    NFSPROV_RETURN_IF_ERROR(mount::UnmountAll(args.target_path));
  }
  NFSPROV_RETURN_IF_ERROR(mount::MakeDirs(args.target_path, 0750));
  return mount::BindMount(args.staging_path, args.target_path, read_only);
}

Status Node::Unpublish(const std::string& volume_id, const std::string& target_path) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("target_path", target_path));
  KeyedMutex::Lock lock = volume_locks_.Acquire(volume_id);
  NFSPROV_RETURN_IF_ERROR(mount::UnmountAll(target_path));
  return mount::RemoveMountpointDir(target_path);
}

Result<NodeVolumeStats> Node::Stats(const std::string& volume_id, const std::string& volume_path) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("volume_path", volume_path));
  Result<std::optional<mount::MountEntry>> found = mount::FindMountAt(volume_path);
  if (!found.ok()) return found.status();
  if (!found->has_value())
    return NotFound("volume " + volume_id + " is not mounted at " + volume_path);
  NodeVolumeStats stats;
  mount::MountHealth health = mount::ProbeMount(volume_path, options_.probe_timeout);
  if (!Healthy(health)) {
    stats.abnormal = true;
    stats.message = "mount of " + (*found)->source + " at " + volume_path + " is not usable: " +
                    health.message;
    return stats;
  }
  const struct statvfs& fs = health.fs;  // read by the probe: no second call into the mount
  const auto block = static_cast<int64_t>(fs.f_frsize);
  stats.bytes_total = static_cast<int64_t>(fs.f_blocks) * block;
  stats.bytes_available = static_cast<int64_t>(fs.f_bavail) * block;
  stats.bytes_used = static_cast<int64_t>(fs.f_blocks - fs.f_bfree) * block;
  stats.inodes_total = static_cast<int64_t>(fs.f_files);
  stats.inodes_free = static_cast<int64_t>(fs.f_ffree);
  stats.inodes_used = stats.inodes_total - stats.inodes_free;
  return stats;
}

}  // namespace nfsprov
