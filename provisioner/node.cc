#include "provisioner/node.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "mount/mount_ops.h"
#include "mount/mountinfo.h"
#include "mount/probe.h"
#include "nfs/path.h"
#include "provisioner/node_context.h"
#include "provisioner/object_id.h"
#include "provisioner/quota.h"
#include "provisioner/volume_params.h"

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

nfs::ClientOptions RecordClientOptions(const NodeOptions& options) {
  nfs::ClientOptions client;
  client.call_timeout = options.nfs_timeout;
  client.connect_timeout = options.nfs_timeout;
  return client;
}

// quotaEnforcement "readonly": the FUSE daemon polls the volume's usage record and refuses new
// data while it is over quota (docs/fusefs.md). Only the filesystem itself can refuse writes to a
// running pod (each container holds its own bind of the mount), so with the kernel mounter the
// volume is only reported. Never a reason to fail the stage. Stage warns about what cannot be
// enforced; Publish (re-staging a dead mount) says nothing more.
void RequestQuotaEnforcement(const std::string& volume_id,
                             const std::map<std::string, std::string>& context,
                             std::string_view mounter, bool warn, mount::NfsMountSpec* spec) {
  auto enforcement = context.find("quotaEnforcement");
  if (enforcement == context.end()) return;
  Result<QuotaEnforcement> mode = ParseQuotaEnforcement(enforcement->second);
  if (!mode.ok() || *mode != QuotaEnforcement::kReadOnly) return;
  Result<ObjectId> id = DecodeId(volume_id);
  if (!id.ok() || id->kind != ObjectKind::kVolume) {
    if (warn)
      spdlog::warn("volume {}: quotaEnforcement readonly needs a volume made by the controller "
                   "(it has no usage record); its quota is not enforced", volume_id);
    return;
  }
  if (mounter != "fuse") {
    if (warn)
      spdlog::warn("volume {}: quotaEnforcement readonly needs the fuse mounter (--mounter fuse); "
                   "with the {} mounter its quota is only reported", volume_id, mounter);
    return;
  }
  spec->quota_share_url = id->share.Url().ToLibnfsUrl();
  spec->quota_key = id->key;
}

}  // namespace

NodeVolumeStats StatsFromFs(const struct statvfs& fs) {
  NodeVolumeStats stats;
  const auto block = static_cast<int64_t>(fs.f_frsize);
  stats.bytes_total = static_cast<int64_t>(fs.f_blocks) * block;
  stats.bytes_available = static_cast<int64_t>(fs.f_bavail) * block;
  stats.bytes_used = static_cast<int64_t>(fs.f_blocks - fs.f_bfree) * block;
  stats.inodes_total = static_cast<int64_t>(fs.f_files);
  stats.inodes_free = static_cast<int64_t>(fs.f_ffree);
  stats.inodes_used = stats.inodes_total - stats.inodes_free;
  return stats;
}

std::optional<NodeVolumeStats> StatsFromRecords(const VolumeRecords& records,
                                                const struct statvfs& fs) {
  const int64_t capacity = records.volume.has_value() ? records.volume->capacity_bytes : 0;
  if (capacity <= 0 && !records.usage.has_value()) return std::nullopt;
  // A volume without any quota may fill the export: its total and available stay the export's.
  NodeVolumeStats stats = StatsFromFs(fs);
  const UsageRecord* usage = records.usage.has_value() ? &*records.usage : nullptr;
  const int64_t quota = usage != nullptr && usage->quota_bytes > 0 ? usage->quota_bytes : capacity;
  stats.bytes_used = usage != nullptr ? usage->used_bytes : 0;  // not scanned yet: new, empty
  if (quota > 0) {
    stats.bytes_total = quota;
    stats.bytes_available = std::max<int64_t>(0, quota - stats.bytes_used);
  }
  // Inodes have no quota: what the volume holds, and what the export can still hold.
  stats.inodes_used = usage != nullptr ? usage->used_inodes : 0;
  stats.inodes_free = static_cast<int64_t>(fs.f_ffree);
  stats.inodes_total = stats.inodes_used + stats.inodes_free;
  if (usage != nullptr) {
    std::optional<std::string> over =
        records.volume.has_value() ? QuotaCondition(*records.volume, *usage) : OverQuota(*usage);
    if (over) {
      stats.abnormal = true;
      stats.message = *over;
    }
  }
  return stats;
}

Node::Node(NodeOptions options, std::unique_ptr<mount::Mounter> mounter)
    : options_(options), mounter_(std::move(mounter)), usage_(RecordClientOptions(options)) {}

Status Node::Stage(const StageArgs& args) {
  NFSPROV_RETURN_IF_ERROR(CheckAbsolute("staging_target_path", args.staging_path));
  Result<mount::NfsMountSpec> spec = MountSpecFromContext(args.context);
  if (!spec.ok()) return spec.status();
  spec->read_only = spec->read_only || args.read_only;
  RequestQuotaEnforcement(args.volume_id, args.context, mounter_->name(), /*warn=*/true, &*spec);
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
  RequestQuotaEnforcement(args.volume_id, args.context, mounter_->name(), /*warn=*/false,
                          &staged_spec);
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
  mount::MountHealth health = mount::ProbeMount(volume_path, options_.probe_timeout);
  if (!Healthy(health)) {
    NodeVolumeStats stats;
    stats.has_usage = false;
    stats.abnormal = true;
    stats.message = "mount of " + (*found)->source + " at " + volume_path + " is not usable: " +
                    health.message;
    return stats;
  }
  // health.fs was read by the probe: no second call into the mount.
  if (std::optional<VolumeRecords> records = usage_.ReadForVolume(volume_id)) {
    if (std::optional<NodeVolumeStats> own = StatsFromRecords(*records, health.fs)) return *own;
  }
  return StatsFromFs(health.fs);
}

}  // namespace nfsprov
