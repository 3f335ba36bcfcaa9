#include "mount/mount_ops.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string_view>
#include <utility>

#include "mount/mountinfo.h"
#include "mount/probe.h"
#include "mount/sys_error.h"

namespace nfsprov::mount {
namespace {

// How long Unmount lets the filesystem answer before treating it as dead and forcing.
constexpr std::chrono::milliseconds kUnmountProbeTimeout{2000};
// UnmountAll's bound: more stacked mounts than this means something keeps mounting.
constexpr int kMaxStackedMounts = 32;

// The per-mount flags a bind remount must repeat: leaving one out asks the kernel to clear it,
// which fails with EPERM where it is locked (mounts inherited into a user namespace).
unsigned long PreservedFlags(std::string_view vfs_options) {
  static constexpr std::pair<std::string_view, unsigned long> kFlags[] = {
      {"nosuid", MS_NOSUID},           {"nodev", MS_NODEV},
      {"noexec", MS_NOEXEC},           {"noatime", MS_NOATIME},
      {"nodiratime", MS_NODIRATIME},   {"relatime", MS_RELATIME},
      {"strictatime", MS_STRICTATIME}, {"nosymfollow", MS_NOSYMFOLLOW},
  };
  unsigned long flags = 0;
  for (const auto& [name, flag] : kFlags) {
    if (HasMountOption(vfs_options, name)) flags |= flag;
  }
  return flags;
}

// Undoes a bind mount that must not stay, keeping the original failure as the answer.
Status UndoBind(const std::string& target, const Status& failure) {
  if (Status undo = Unmount(target); !undo.ok()) {
    return Status(failure.code(),
                  failure.message() + "; undoing the bind mount failed too: " + undo.ToString(),
                  failure.sys_errno());
  }
  return failure;
}

Status ForceDetach(const std::string& mountpoint, std::string_view why) {
  if (umount2(mountpoint.c_str(), MNT_FORCE | MNT_DETACH | UMOUNT_NOFOLLOW) != 0 &&
      errno != EINVAL) {
    return SysError(errno, "force-unmount " + mountpoint + " (" + std::string(why) + ")");
  }
  return {};
}

}  // namespace

Status BindMount(const std::string& source, const std::string& target, bool read_only) {
  const std::string what = "bind-mount " + source + " on " + target;
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return SysError(errno, what);
  }
  Result<std::optional<MountEntry>> entry = FindMountAt(target);
  if (!entry.ok()) return UndoBind(target, entry.status().WithContext(what));
  if (!entry->has_value()) {
    return Internal(what + ": mount(2) succeeded but mountinfo shows nothing at the target");
  }
  if (!read_only) return {};

  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | PreservedFlags((*entry)->vfs_options);
  if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) {
    return UndoBind(target, SysError(errno, what + ": remount read-only"));
  }
  entry = FindMountAt(target);
  if (!entry.ok()) return UndoBind(target, entry.status().WithContext(what));
  if (!entry->has_value() || !(*entry)->read_only) {
    return UndoBind(target, Internal(what + ": remounted read-only but mountinfo does not show "
                                            "the target read-only"));
  }
  return {};
}

Status Unmount(const std::string& target) {
  Result<std::optional<MountEntry>> entry = FindMountAt(target);
  if (!entry.ok()) return entry.status().WithContext("unmount " + target);
  if (!entry->has_value()) return {};
  const std::string& mountpoint = (*entry)->target;

  MountHealth health = ProbeMount(mountpoint, kUnmountProbeTimeout);
  if (health.state != MountState::kHealthy) return ForceDetach(mountpoint, health.message);

  if (umount2(mountpoint.c_str(), UMOUNT_NOFOLLOW) == 0) return {};
  switch (int err = errno) {
    case EINVAL:
    case ENOENT:
      return {};  // unmounted by someone else since we looked
    case EBUSY:
      // Open files or a cwd inside: detach now, the kernel frees it when the last user leaves.
      if (umount2(mountpoint.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) {
        return SysError(errno, "lazy-unmount busy " + mountpoint);
      }
      return {};
    case ESTALE:
    case ENOTCONN:
    case EIO:
      return ForceDetach(mountpoint, "unmount failed with errno " + std::to_string(err));
    default:
      return SysError(err, "unmount " + mountpoint);
  }
}

Status UnmountAll(const std::string& target) {
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    Result<std::optional<MountEntry>> entry = FindMountAt(target);
    if (!entry.ok()) return entry.status().WithContext("unmount all at " + target);
    if (!entry->has_value()) return {};
    NFSPROV_RETURN_IF_ERROR(Unmount(target));
  }
  return FailedPrecondition("still mounted at " + target + " after " +
                            std::to_string(kMaxStackedMounts) + " unmounts");
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgument("MakeDirs: \"" + path + "\" is not an absolute path");
  }
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.back() == '/') continue;  // doubled or trailing '/'
    // mkdir without a stat first: EEXIST answers from the parent's directory entry, so an
    // existing mountpoint is never looked into.
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return SysError(errno, "mkdir " + prefix);
    }
  }
  return {};
}

Status RemoveMountpointDir(const std::string& path) {
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return SysError(errno, "remove mountpoint directory " + path);
  }
  return {};
}

}  // namespace nfsprov::mount
