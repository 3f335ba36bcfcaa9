// FuseMounter: NFS through `nfsprov fuse-mount` (libfuse3 over libnfs), for nodes without a
// kernel NFS client or where the user-space client is wanted.
//
// Mount spawns `<binary> fuse-mount --url nfs://server[:port]/path?version=3|4 --target TARGET
// --fsname server:/path [--read-only] [--quota-share URL --quota-key KEY]` as a detached daemon
// (not our child, own session), so the mount outlives a restart of the node plugin the way a
// kernel mount does. Its output is appended to <log_dir>/<name>.log and its pid written to
// <log_dir>/<name>.pid, <name> derived from the target. Mount returns once mountinfo shows fstype
// "fuse.nfsprov" with source server:/path at the target; if the daemon exits first, or the
// timeout passes (the daemon is then killed), the error carries the last lines of its log and
// nothing is left mounted.
//
// Options: the merged kernel option list (mount/mount_options.h) is checked the same way, so
// conflicts are the same errors; vers=, port=, ro and (NFSv3) mountport= are honoured; options
// only the kernel client has (hard, timeo, nconnect, ...) are ignored with a debug log; anything
// else is listed in one warning. A security flavour other than sec=sys is UNIMPLEMENTED rather
// than silently downgraded. The quota flags (spec.quota_share_url and quota_key, both or neither,
// else INVALID_ARGUMENT) make the daemon refuse new data while the volume is over quota.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "mount/mount_spec.h"

namespace nfsprov::mount {

inline constexpr std::string_view kFuseFsType = "fuse.nfsprov";

class FuseMounter : public Mounter {
 public:
  // binary: absolute path of nfsprov; log_dir: created if missing, on a persistent host path.
  FuseMounter(std::string binary, std::string log_dir,
              std::chrono::milliseconds timeout = std::chrono::seconds(15));

  std::string_view name() const override { return "fuse"; }
  bool Matches(const NfsMountSpec& spec, std::string_view fstype,
               std::string_view source) const override;
  // Also FAILED_PRECONDITION when something is already mounted at target. A daemon left over for
  // target (recorded in its pid file, nothing mounted) is killed first.
  Status Mount(const NfsMountSpec& spec, const std::string& target) override;
  // UnmountAll, then the daemon that served target gets a moment to exit on its own (a FUSE
  // daemon's loop ends when its mount goes) and is killed if it does not; its pid file goes.
  Status Unmount(const std::string& target) override;

  // The daemon's argv for spec at target.
  Result<std::vector<std::string>> FuseMountCommand(const NfsMountSpec& spec,
                                                    const std::string& target) const;

  // SIGKILLs the fuse-mount daemon serving target (same string as given to Mount), found by its
  // pid file and checked against /proc/PID/cmdline so a reused pid is never hit, and waits for
  // it to exit. OK when there is none. The mount it served is then disconnected: Unmount it.
  Status KillFuseDaemon(const std::string& target) const;
  // The daemon's pid, or NOT_FOUND when no live fuse-mount serves target.
  Result<pid_t> FuseDaemonPid(const std::string& target) const;

  std::string LogPath(const std::string& target) const;
  std::string PidPath(const std::string& target) const;

 private:
  Status WaitForMount(const NfsMountSpec& spec, const std::string& target, pid_t pid,
                      const std::string& what) const;

  std::string binary_;
  std::string log_dir_;
  std::chrono::milliseconds timeout_;
};

}  // namespace nfsprov::mount
